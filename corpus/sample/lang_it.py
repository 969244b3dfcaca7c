"""Italian word lists and templates (hand-written for the embedded sample)."""
from .prose import lines

SLOTS = {
    "S": lines("""
        il consiglio comunale
        la regione
        un piccolo gruppo di volontari
        la nuova direttrice
        gli agricoltori della valle|p
        il gruppo di ricerca
        alcuni vicini di casa|p
        il preside della scuola
        la nostra giornalista
        l'autorità portuale
        il museo civico
        un ingegnere in pensione
        la squadra di calcio
        la biblioteca comunale
        le giovani famiglie|p
        la sindaca
        l'azienda dei trasporti
        gran parte dei commercianti|p
        l'azienda sanitaria
        un gruppo di esperti
        l'associazione ambientalista
        gli organizzatori della sagra|p
        l'università
        due studentesse|p
        i vigili del fuoco|p
        il servizio meteorologico
        il forno all'angolo
        l'orchestra
        la commissione
        gli abitanti del centro storico|p
        l'ospedale
        uno storico del paese
        il sindacato
        il ministero
        i giardinieri|p
        l'architetto capo
        la polizia municipale
        l'ufficio turistico
        una squadra di infermiere
        il coro del paese
        la cooperativa energetica
        la società ciclistica
        il tribunale
        il direttore del giornale
        i bambini|p
    """),
    "V": lines("""
        ha presentato|hanno presentato
        ha approvato|hanno approvato
        ha respinto|hanno respinto
        ha discusso|hanno discusso
        ha pubblicato|hanno pubblicato
        ha annunciato|hanno annunciato
        ha inaugurato|hanno inaugurato
        ha riparato|hanno riparato
        ha esaminato|hanno esaminato
        ha difeso|hanno difeso
        ha criticato|hanno criticato
        ha accolto|hanno accolto
        ha rinviato|hanno rinviato
        ha finanziato|hanno finanziato
        ha preparato|hanno preparato
        ha organizzato|hanno organizzato
        ha provato|hanno provato
        ha sostenuto|hanno sostenuto
        ha descritto|hanno descritto
        ha spiegato|hanno spiegato
        ha progettato|hanno progettato
        ha misurato|hanno misurato
        ha restaurato|hanno restaurato
        ha sostituito|hanno sostituito
        ha ampliato|hanno ampliato
        ha concluso|hanno concluso
        ha studiato|hanno studiato
        ha festeggiato|hanno festeggiato
        ha migliorato|hanno migliorato
        ha raccolto|hanno raccolto
        ha visitato|hanno visitato
        ha ridipinto|hanno ridipinto
        ha pulito|hanno pulito
        ha disegnato|hanno disegnato
        ha chiesto|hanno chiesto
    """),
    "O": lines("""
        un progetto per le sponde del fiume
        i nuovi orari degli autobus
        il bilancio del prossimo anno
        una proposta per case meno care
        i risultati del sondaggio
        una relazione sulla qualità dell'aria
        il vecchio ponte della ferrovia
        un elenco di riparazioni urgenti
        il progetto di un nuovo parco giochi
        il programma invernale
        uno studio sugli uccelli della zona
        le regole per il parcheggio
        i dati del raccolto
        una petizione per i giardini pubblici
        i costi della nuova scuola
        una mappa delle piste ciclabili
        gli orari della piscina
        una guida per i nuovi residenti
        il rifacimento della piazza del mercato
        una mostra di vecchie fotografie
        la rete idrica
        il tetto del municipio
        un ciclo di incontri pubblici
        il calendario dell'estate
        un concerto nel duomo
        gli argini contro le piene
        un concorso per giovani scrittori
        il futuro del porto
        il menù della mensa scolastica
        una nuova rotta per il traghetto
        le conclusioni dell'indagine
        il restauro del campanile
        un fondo per le piccole imprese
        l'elenco dei candidati
        una campagna contro i rifiuti
        l'impianto di riscaldamento
        l'archivio della parrocchia
        un orto per l'ospedale
        il prezzo dei biglietti
        un sentiero lungo la costa
        l'idea di un mercato settimanale
        i danni dopo il temporale
        un piano per piantare alberi
        il contratto per la galleria
        una raccolta di lettere antiche
        i limiti di velocità vicino alle scuole
        un corso per neopatentati
        il vecchio mulino
        un laboratorio di apicoltura
    """),
    "P": lines("""
        in municipio
        in biblioteca
        vicino alla stazione
        nel centro storico
        in piazza
        al porto
        nella sala civica
        dietro il duomo
        ai margini del bosco
        nel quartiere nord
        lungo il fiume
        in una sala gremita
        alla scuola elementare
        davanti al museo
        in paese
        nel campus
        allo stadio
        al mercato coperto
        sul lago
        in una strada tranquilla
        alla fiera
        nella valle
        vicino all'aeroporto
        sull'isola
        nella zona industriale
    """),
    "T": lines("""
        lunedì
        martedì sera
        la settimana scorsa
        stamattina
        dopo un lungo dibattito
        all'inizio dell'anno
        alla fine del mese
        durante l'estate
        prima delle vacanze
        venerdì pomeriggio
        in primavera
        nel fine settimana
        lo scorso autunno
        dopo diversi rinvii
        nel giro di pochi giorni
        durante una riunione giovedì
        all'inizio di dicembre
        mercoledì sera
        due settimane fa
        per la prima volta
    """),
    "ADV": lines("""
        Tuttavia,
        Nel frattempo,
        Inoltre,
        Per questo,
        Ciononostante,
        Alla fine,
        Con sorpresa di tutti,
        Finora,
        Più tardi,
        Per fortuna,
        Allo stesso tempo,
        Ancora una volta,
        Invece,
        In pratica,
        Secondo gli organizzatori,
    """),
    "NAME": lines("""
        Anna Rossi|f
        Tommaso Bianchi|m
        Margherita Ferrari|f
        Giovanni Esposito|m
        Chiara Romano|f
        Michele Colombo|m
        Elena Ricci|f
        Pietro Marino|m
        Giulia Greco|f
        Luca Bruno|m
        Laura Gallo|f
        Andrea Conti|m
        Francesca De Luca|f
        Davide Mancini|m
        Paola Costa|f
    """),
    "ROLE": lines("""
        che presiede la commissione
        portavoce del comune
        responsabile del progetto
        maestra della scuola del quartiere|f
        che vive qui da quarant'anni
        membro del consiglio direttivo
        titolare di un bar vicino
        ingegnere dell'acquedotto|m
        infermiera dell'ospedale|f
        presidente del comitato di quartiere
        storico dell'università|m
        allenatore della squadra|m
        volontaria del banco alimentare|f
        direttrice del museo|f
        agricoltore della valle|m
    """),
    "ADJ": lines("""
        prudente
        costosa
        popolare
        difficile
        gradita
        insolita
        modesta
        ambiziosa
        urgente
        pratica
        ragionevole
        attesa
        generosa
        discussa
        notevole
    """),
    "NUM": lines("""
        dodici
        venti
        trenta
        quaranta
        cinquanta
        sessanta
        settanta
        cento
        duecento
        alcune centinaia di
        diciotto
        quindici
    """),
    "GRP": lines("""
        residenti
        visitatori
        alunni
        soci
        lavoratori
        genitori
        automobilisti
        negozianti
        pazienti
        lettori
        pensionati
        cittadini
    """),
    "FEEL": lines("""
        il cambiamento è arrivato troppo tardi
        il progetto è un buon inizio
        la decisione è stata giusta
        serviranno più soldi
        i lavori devono continuare il prossimo anno
        la città ha bisogno di una risposta chiara
        la procedura è stata troppo lenta
        nessuno ha chiesto niente ai residenti
        i costi non sono ancora chiari
        il progetto aiuterà tutta la zona
        i risultati parlano da soli
        il vecchio sistema funzionava abbastanza bene
        i giovani saranno i più avvantaggiati
        il maltempo ha complicato tutto
        bisogna ancora definire i dettagli
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
    «{C}», ha detto {NAME}, {ROLE}.
    {NAME}, {ROLE}, ritiene che {FEEL}.
    {S} {V} {O} dopo che {S2} {V2} {O2}.
    {S} {V} {O}, mentre {S2} {V2} {O2} {P2}.
    Circa {NUM} {GRP} sono venuti a vedere come {S} {V} {O} {P}.
    È stata una scelta {ADJ}: {S} {V} {O} {T}.
    Molti {GRP} pensano che {FEEL}, ma {S} {V} comunque {O}.
    Perché {S} {V} {O} {T}? {NAME} pensa che {FEEL}.
    La decisione è stata {ADJ}, e {S} {V} {O} {P}.
    {T}, {S} {V} {O}, e {S2} {V2} {O2}.
    Nessuno si aspettava che {S} {V} {O} così in fretta.
    {S} {V} anche {O}, una scelta che molti {GRP} trovano {ADJ}.
    Secondo {NAME}, {S} {V} {O} {T}.
    Prima di questo, {S} {V} {O}, e poi {S2} {V2} {O2}.
    {ADV} quasi {NUM} {GRP} sostengono che {FEEL}.
    {NAME} ricorda come {S} {V} {O} {P} {T}.
    L'idea è {ADJ}, spiega {NAME}, perché {FEEL}.
    {S} {V} {O}; {S2} {V2} {O2} {T2}.
""")

TITLES = lines("""
    {S} {V} {O}
    Così {S} {V} {O}
    {NAME}: «{FEEL}»
    {S} {V} {O} {P}
""")

STOPWORDS = {"di", "il", "la", "che", "e", "per", "un", "una", "del", "della", "non"}
