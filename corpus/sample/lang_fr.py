"""French word lists and templates (hand-written for the embedded sample)."""
import re

from .prose import lines

SLOTS = {
    "S": lines("""
        le conseil municipal
        la région
        un petit groupe de bénévoles
        la nouvelle directrice
        les agriculteurs de la vallée|p
        l'équipe de recherche
        plusieurs voisins|p
        le directeur de l'école
        notre journaliste
        l'autorité portuaire
        le musée
        un ingénieur à la retraite
        le club de football
        la médiathèque
        les jeunes familles|p
        la maire
        la compagnie de transport
        la plupart des commerçants|p
        l'agence de santé
        un groupe d'experts
        l'association de protection de la nature
        les organisateurs du festival|p
        l'université
        deux étudiantes|p
        les pompiers|p
        le service météo
        la boulangerie du coin
        l'orchestre
        la commission
        les habitants du vieux quartier|p
        l'hôpital
        un historien local
        le syndicat
        le ministère
        les jardiniers|p
        l'architecte en chef
        la gendarmerie
        l'office de tourisme
        une équipe d'infirmières
        la chorale du village
        la coopérative d'énergie
        le club de vélo
        le tribunal
        le rédacteur en chef
        les enfants|p
    """),
    "V": lines("""
        a présenté|ont présenté
        a approuvé|ont approuvé
        a rejeté|ont rejeté
        a discuté|ont discuté
        a publié|ont publié
        a annoncé|ont annoncé
        a ouvert|ont ouvert
        a réparé|ont réparé
        a examiné|ont examiné
        a défendu|ont défendu
        a critiqué|ont critiqué
        a salué|ont salué
        a reporté|ont reporté
        a financé|ont financé
        a préparé|ont préparé
        a organisé|ont organisé
        a testé|ont testé
        a soutenu|ont soutenu
        a décrit|ont décrit
        a expliqué|ont expliqué
        a prévu|ont prévu
        a mesuré|ont mesuré
        a restauré|ont restauré
        a remplacé|ont remplacé
        a agrandi|ont agrandi
        a terminé|ont terminé
        a étudié|ont étudié
        a fêté|ont fêté
        a amélioré|ont amélioré
        a rassemblé|ont rassemblé
        a visité|ont visité
        a repeint|ont repeint
        a nettoyé|ont nettoyé
        a dessiné|ont dessiné
        a demandé|ont demandé
    """),
    "O": lines("""
        un projet pour les bords de la rivière
        les nouveaux horaires des bus
        le budget de l'année prochaine
        une proposition de logements moins chers
        les résultats de l'enquête
        un rapport sur la qualité de l'air
        le vieux pont de chemin de fer
        une liste de réparations urgentes
        les plans d'une nouvelle aire de jeux
        le programme d'hiver
        une étude sur les oiseaux de la région
        les règles de stationnement
        les chiffres de la récolte
        une pétition pour le jardin public
        le coût de la nouvelle école
        une carte des pistes cyclables
        les horaires de la piscine
        un guide pour les nouveaux habitants
        l'aménagement de la place du marché
        une exposition de vieilles photographies
        l'alimentation en eau
        le toit de la mairie
        une série de conférences publiques
        le calendrier de l'été
        un concert dans la cathédrale
        les digues contre les crues
        un concours pour les jeunes écrivains
        l'avenir du port
        les menus de la cantine
        un nouveau trajet pour le bac
        les conclusions de l'enquête publique
        la réparation du clocher
        un fonds pour les petites entreprises
        la liste des candidats
        une campagne contre les déchets
        le système de chauffage
        les archives de la paroisse
        un jardin pour l'hôpital
        le prix des billets
        un sentier le long de la côte
        l'idée d'un marché hebdomadaire
        les dégâts après la tempête
        un programme de plantation d'arbres
        le contrat du tunnel
        une collection de lettres anciennes
        les limitations de vitesse près des écoles
        une formation pour les conducteurs
        le vieux moulin
        un atelier sur l'apiculture
    """),
    "P": lines("""
        à la mairie
        à la médiathèque
        près de la gare
        dans la vieille ville
        sur la place du marché
        au port
        dans la salle des fêtes
        derrière la cathédrale
        à la lisière de la forêt
        dans le quartier nord
        au bord de la rivière
        dans une salle comble
        à l'école primaire
        devant le musée
        dans le village
        sur le campus
        au stade
        aux halles
        au bord du lac
        dans une rue tranquille
        à la foire
        dans la vallée
        près de l'aéroport
        sur l'île
        dans la zone industrielle
    """),
    "T": lines("""
        lundi
        mardi soir
        la semaine dernière
        ce matin
        après un long débat
        au début de l'année
        à la fin du mois
        pendant l'été
        avant les vacances
        vendredi après-midi
        au printemps
        ce week-end
        l'automne dernier
        après plusieurs retards
        en quelques jours
        lors d'une réunion jeudi
        début décembre
        mercredi soir
        il y a deux semaines
        pour la première fois
    """),
    "ADV": lines("""
        Pourtant,
        Entre-temps,
        De plus,
        Par conséquent,
        Néanmoins,
        Au final,
        À la surprise générale,
        Jusqu'ici,
        Plus tard,
        Heureusement,
        En même temps,
        Une fois encore,
        En revanche,
        Dans les faits,
        Selon les organisateurs,
    """),
    "NAME": lines("""
        Anne Dubois|f
        Thomas Lefèvre|m
        Marguerite Roux|f
        Julien Moreau|m
        Sophie Girard|f
        Michel Fournier|m
        Hélène Lambert|f
        Pierre Bonnet|m
        Claire Mercier|f
        Jean-Luc Faure|m
        Laure Chevalier|f
        Nicolas Rousseau|m
        Isabelle Morel|f
        Antoine Blanc|m
        Camille Garnier|f
    """),
    "ROLE": lines("""
        qui préside la commission
        porte-parole de la mairie
        responsable du projet
        institutrice à l'école du quartier|f
        qui vit ici depuis quarante ans
        membre du conseil d'administration
        patron d'un café voisin|m
        ingénieur à la compagnie des eaux|m
        infirmière à l'hôpital|f
        présidente de l'association des habitants|f
        historien à l'université|m
        entraîneur du club|m
        bénévole à la banque alimentaire
        directrice du musée|f
        agriculteur de la vallée|m
    """),
    "ADJ": lines("""
        prudente
        coûteuse
        populaire
        difficile
        bienvenue
        inhabituelle
        modeste
        ambitieuse
        urgente
        pratique
        raisonnable
        attendue
        généreuse
        contestée
        remarquable
    """),
    "NUM": lines("""
        douze
        vingt
        trente
        quarante
        cinquante
        soixante
        soixante-dix
        cent
        deux cents
        plusieurs centaines de
        dix-huit
        quinze
    """),
    "GRP": lines("""
        habitants
        visiteurs
        élèves
        adhérents
        ouvriers
        foyers
        automobilistes
        commerçants
        familles
        patients
        lecteurs
        retraités
    """),
    "FEEL": lines("""
        le changement est arrivé trop tard
        le projet est un bon début
        la décision était juste
        il faudra davantage d'argent
        les travaux doivent continuer l'an prochain
        la ville a besoin d'une réponse claire
        la procédure a été beaucoup trop lente
        personne n'a demandé leur avis aux habitants
        les coûts restent encore flous
        le projet aidera toute la région
        les résultats parlent d'eux-mêmes
        l'ancien système fonctionnait assez bien
        les jeunes en profiteront le plus
        la météo a tout compliqué
        les détails doivent encore être réglés
    """),
}

CLAUSES = lines("""
    {S} {V} {O}
    {S} {V} {O} {P}
    {S} {V} {O} {T}
    {T}, {S} {V} {O} {P}
""")

SENTENCES = lines("""
    {S} {V} {O} {P} {T}.
    {T}, {S} {V} {O}.
    {ADV} {S} {V} {O} {P}.
    « {C} », a déclaré {NAME}, {ROLE}.
    {NAME}, {ROLE}, estime que {FEEL}.
    {S} {V} {O} après que {S2} {V2} {O2}.
    {S} {V} {O}, tandis que {S2} {V2} {O2} {P2}.
    Environ {NUM} {GRP} sont venus voir comment {S} {V} {O} {P}.
    La démarche était {ADJ} : {S} {V} {O} {T}.
    Beaucoup de {GRP} pensent que {FEEL}, mais {S} {V} quand même {O}.
    Pourquoi {S} {V} {O} {T} ? {NAME} pense que {FEEL}.
    La décision était {ADJ}, et {S} {V} {O} {P}.
    {T}, {S} {V} {O}, et {S2} {V2} {O2}.
    Personne ne pensait que {S} {V} {O} si vite.
    {S} {V} aussi {O}, une initiative que beaucoup de {GRP} trouvent {ADJ}.
    Selon {NAME}, {S} {V} {O} {T}.
    Avant cela, {S} {V} {O}, puis {S2} {V2} {O2}.
    {ADV} près de {NUM} {GRP} affirment que {FEEL}.
    {NAME} se souvient que {S} {V} {O} {P} {T}.
    L'idée est {ADJ}, explique {NAME}, car {FEEL}.
    {S} {V} {O} ; {S2} {V2} {O2} {T2}.
""")

TITLES = lines("""
    {S} {V} {O}
    Comment {S} {V} {O}
    {NAME} : « {FEEL} »
    {S} {V} {O} {P}
""")

STOPWORDS = {"le", "la", "les", "de", "et", "un", "une", "des", "que", "est"}


def postprocess(text: str) -> str:
    """Elisions and contractions the slots cannot know about."""
    text = re.sub(r"\bque ([aeiouéèhAEIOUÉ])", r"qu'\1", text)
    text = re.sub(r"\bde ([aeiouéèAEIOUÉ])", r"d'\1", text)
    text = re.sub(r"\bde le\b", "du", text)
    text = re.sub(r"\bde les\b", "des", text)
    text = re.sub(r"\bà le\b", "au", text)
    text = re.sub(r"\bà les\b", "aux", text)
    text = re.sub(r"\bce que ([aeiouéèAEIOUÉ])", r"ce qu'\1", text)
    return text
