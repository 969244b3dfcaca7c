"""German word lists and templates (hand-written for the embedded sample).

Verbs are in the perfect tense: ``aux singular|aux plural|participle``; the participle
goes to the end of the clause (``{Vt}``), as German word order wants.
"""
from .prose import lines

SLOTS = {
    "S": lines("""
        der Stadtrat
        die Landesregierung
        eine kleine Gruppe von Freiwilligen
        die neue Direktorin
        die Bauern aus der Umgebung|p
        das Forschungsteam
        mehrere Nachbarn|p
        der Schulleiter
        unsere Reporterin
        die Hafenbehörde
        das Museum
        ein pensionierter Ingenieur
        der Fußballverein
        die Stadtbibliothek
        junge Familien|p
        die Bürgermeisterin
        das Verkehrsunternehmen
        viele Ladenbesitzer|p
        das Gesundheitsamt
        eine Expertenkommission
        der Naturschutzbund
        die Veranstalter des Festes|p
        die Universität
        zwei Studentinnen|p
        die Feuerwehr
        der Wetterdienst
        die Bäckerei an der Ecke
        das Orchester
        der Ausschuss
        die Bewohner der Altstadt|p
        das Krankenhaus
        ein Heimatforscher
        die Gewerkschaft
        das Ministerium
        die Gärtner|p
        der Architekt
        die Polizei
        das Fremdenverkehrsamt
        ein Team von Pflegekräften
        der Kirchenchor
        die Energiegenossenschaft
        der Radfahrverein
        das Gericht
        der Chefredakteur
        die Kinder|p
    """),
    "V": lines("""
        hat|haben|vorgestellt
        hat|haben|genehmigt
        hat|haben|abgelehnt
        hat|haben|diskutiert
        hat|haben|veröffentlicht
        hat|haben|angekündigt
        hat|haben|eröffnet
        hat|haben|repariert
        hat|haben|überprüft
        hat|haben|verteidigt
        hat|haben|kritisiert
        hat|haben|begrüßt
        hat|haben|verschoben
        hat|haben|finanziert
        hat|haben|vorbereitet
        hat|haben|organisiert
        hat|haben|getestet
        hat|haben|unterstützt
        hat|haben|beschrieben
        hat|haben|erklärt
        hat|haben|geplant
        hat|haben|gemessen
        hat|haben|restauriert
        hat|haben|ersetzt
        hat|haben|erweitert
        hat|haben|abgeschlossen
        hat|haben|untersucht
        hat|haben|gefeiert
        hat|haben|verbessert
        hat|haben|gesammelt
        hat|haben|besucht
        hat|haben|gestrichen
        hat|haben|gereinigt
        hat|haben|entworfen
        hat|haben|beantragt
    """),
    "O": lines("""
        einen Plan für das Flussufer
        den neuen Busfahrplan
        den Haushalt für das kommende Jahr
        einen Vorschlag für günstigere Wohnungen
        die Ergebnisse der Umfrage
        einen Bericht über die Luftqualität
        die alte Eisenbahnbrücke
        eine Liste dringender Reparaturen
        den Entwurf für einen neuen Spielplatz
        das Winterprogramm
        eine Studie über heimische Vögel
        die Regeln für das Parken
        die Zahlen der Ernte
        eine Petition für den Stadtpark
        die Kosten der neuen Schule
        eine Karte der Radwege
        die Öffnungszeiten des Hallenbads
        einen Ratgeber für neue Bürger
        die Pläne für den Marktplatz
        eine Ausstellung alter Fotografien
        die Wasserversorgung
        das Dach des Rathauses
        eine Reihe öffentlicher Vorträge
        den Zeitplan für den Sommer
        ein Konzert im Dom
        den Hochwasserschutz
        einen Wettbewerb für junge Autoren
        die Zukunft des Hafens
        den Speiseplan der Schulkantine
        eine neue Route für die Fähre
        die Ergebnisse der Untersuchung
        die Reparatur des Glockenturms
        einen Fonds für kleine Betriebe
        die Liste der Kandidaten
        eine Kampagne gegen Müll
        die Heizungsanlage
        die Chronik der Gemeinde
        einen Garten für das Krankenhaus
        die Preise für die Eintrittskarten
        einen neuen Wanderweg an der Küste
        die Idee eines Wochenmarkts
        die Schäden nach dem Sturm
        ein Programm zur Pflanzung von Bäumen
        den Vertrag für den Tunnel
        eine Sammlung von Briefen
        die Tempolimits vor den Schulen
        einen Kurs für Fahranfänger
        die alte Windmühle
        einen Workshop über Bienenzucht
    """),
    "P": lines("""
        im Rathaus
        in der Bibliothek
        am Bahnhof
        in der Altstadt
        auf dem Marktplatz
        am Hafen
        im Gemeindezentrum
        hinter dem Dom
        am Waldrand
        im Norden der Stadt
        am Fluss
        in einer vollen Halle
        an der Grundschule
        vor dem Museum
        im Dorf
        auf dem Campus
        auf dem Sportplatz
        in der Markthalle
        am See
        in einer ruhigen Straße
        auf dem Jahrmarkt
        im Tal
        am Flughafen
        auf der Insel
        im Gewerbegebiet
    """),
    "T": lines("""
        am Montag
        am Dienstagabend
        in der vergangenen Woche
        heute Morgen
        nach einer langen Debatte
        Anfang des Jahres
        am Ende des Monats
        im Sommer
        vor den Ferien
        am Freitagnachmittag
        im Frühling
        am Wochenende
        im vergangenen Herbst
        nach mehreren Verzögerungen
        innerhalb weniger Tage
        bei einer Sitzung am Donnerstag
        Anfang Dezember
        am späten Mittwoch
        vor zwei Wochen
        zum ersten Mal
    """),
    "ADV": lines("""
        Trotzdem
        Inzwischen
        Außerdem
        Deshalb
        Dennoch
        Am Ende
        Überraschenderweise
        Bisher
        Später
        Zum Glück
        Gleichzeitig
        Erneut
        Allerdings
        Schließlich
        Tatsächlich
    """),
    "NAME": lines("""
        Anna Becker|f
        Thomas Krüger|m
        Margarete Vogel|f
        Stefan Hoffmann|m
        Julia Schäfer|f
        Michael Braun|m
        Helga Zimmermann|f
        Peter Wagner|m
        Katrin Lehmann|f
        Jürgen Schulz|m
        Laura Fischer|f
        Markus Weber|m
        Sabine König|f
        Daniel Neumann|m
        Ursula Hartmann|f
    """),
    "ROLE": lines("""
        die den Ausschuss leitet|f
        Sprecherin der Stadt|f
        Leiter des Projekts|m
        Lehrerin an der örtlichen Schule|f
        der seit vierzig Jahren hier lebt|m
        Mitglied des Vorstands
        Besitzer eines Cafés in der Nähe|m
        Ingenieur bei den Stadtwerken|m
        Krankenschwester im Klinikum|f
        Vorsitzende des Bürgervereins|f
        Historiker an der Universität|m
        Trainer des Vereins|m
        ehrenamtliche Helferin bei der Tafel|f
        Direktorin des Museums|f
        Landwirt aus dem Tal|m
    """),
    "ADJ": lines("""
        vorsichtig
        teuer
        beliebt
        schwierig
        willkommen
        ungewöhnlich
        bescheiden
        ehrgeizig
        dringend
        praktisch
        vernünftig
        überfällig
        großzügig
        umstritten
        bemerkenswert
    """),
    "NUM": lines("""
        zwölf
        zwanzig
        dreißig
        vierzig
        fünfzig
        sechzig
        siebzig
        hundert
        zweihundert
        dreihundert
        achtzehn
        fünfzehn
    """),
    "GRP": lines("""
        Anwohner
        Besucher
        Schüler
        Mitglieder
        Arbeiter
        Haushalte
        Autofahrer
        Geschäfte
        Familien
        Patienten
        Leser
        Rentner
    """),
    "FEEL": lines("""
        die Änderung zu spät gekommen ist
        der Plan ein guter Anfang ist
        die Entscheidung fair war
        mehr Geld nötig sein wird
        die Arbeit im nächsten Jahr weitergehen soll
        die Stadt eine klare Antwort braucht
        das Verfahren viel zu langsam war
        niemand die Bürger gefragt hat
        die Kosten noch immer unklar sind
        das Projekt der ganzen Region helfen wird
        die Ergebnisse für sich sprechen
        das alte System gut genug funktioniert hat
        vor allem junge Leute davon profitieren
        das Wetter alles schwieriger gemacht hat
        die Einzelheiten noch geklärt werden müssen
    """),
}

CLAUSES = lines("""
    {S} {V} {O} {Vt}
    {S} {V} {O} {P} {Vt}
    {S} {V} {T} {O} {Vt}
    {S} {V} {T} {O} {P} {Vt}
""")

SENTENCES = lines("""
    {S} {V} {T} {O} {P} {Vt}.
    {T} {V} {S} {O} {Vt}.
    {ADV} {V} {S} {O} {P} {Vt}.
    „{C}“, sagte {NAME}, {ROLE}.
    {NAME}, {ROLE}, sagt, dass {FEEL}.
    {S} {V} {O} {Vt}, nachdem {S2} {O2} {Vt2} {V2}.
    {S} {V} {O} {Vt}, während {S2} {P2} {O2} {Vt2} {V2}.
    Etwa {NUM} {GRP} kamen, um zu sehen, wie {S} {P} {O} {Vt} {V}.
    Der Schritt war {ADJ}: {S} {V} {T} {O} {Vt}.
    Viele {GRP} meinen, dass {FEEL}, aber {S} {V} trotzdem {O} {Vt}.
    Warum {V} {S} {T} {O} {Vt}? {NAME} glaubt, dass {FEEL}.
    Die Entscheidung war {ADJ}, und {S} {V} {O} {P} {Vt}.
    {T} {V} {S} {O} {Vt}, und {S2} {V2} {O2} {Vt2}.
    Niemand hatte erwartet, dass {S} so schnell {O} {Vt} {V}.
    {S} {V} auch {O} {Vt}, was viele {GRP} {ADJ} fanden.
    Nach Angaben von {NAME} {V} {S} {T} {O} {Vt}.
    Bevor {S} {O} {Vt} {V}, {V2} {S2} {O2} {Vt2}.
    {ADV} sagen rund {NUM} {GRP}, dass {FEEL}.
    {NAME} erinnert sich, wie {S} {P} {T} {O} {Vt} {V}.
    Der Plan ist {ADJ}, sagt {NAME}, denn {C}.
    {S} {V} {O} {Vt}; {S2} {V2} {T2} {O2} {Vt2}.
""")

TITLES = lines("""
    {S} {V} {O} {Vt}
    Wie {S} {O} {Vt} {V}
    {NAME} meint, dass {FEEL}
    Warum {S} {T} {O} {Vt} {V}
""")

STOPWORDS = {"der", "die", "und", "das", "ist", "nicht", "mit", "den", "sich"}
