"""Portuguese word lists and templates (hand-written for the embedded sample)."""
from .prose import lines

SLOTS = {
    "S": lines("""
        a câmara municipal
        o governo regional
        um pequeno grupo de voluntários
        a nova diretora
        os agricultores do vale|p
        a equipa de investigação
        vários vizinhos|p
        o diretor da escola
        a nossa jornalista
        a administração do porto
        o museu da cidade
        um engenheiro aposentado
        o clube de futebol
        a biblioteca municipal
        as famílias jovens|p
        a presidente da câmara
        a empresa de transportes
        a maioria dos comerciantes|p
        o centro de saúde
        um grupo de especialistas
        a associação ambientalista
        os organizadores da festa|p
        a universidade
        duas estudantes|p
        os bombeiros|p
        o instituto de meteorologia
        a padaria da esquina
        a orquestra
        a comissão
        os moradores do bairro antigo|p
        o hospital
        um historiador local
        o sindicato
        o ministério
        os jardineiros|p
        o arquiteto responsável
        a polícia municipal
        o posto de turismo
        uma equipa de enfermeiras
        o coro da aldeia
        a cooperativa de energia
        o clube de ciclismo
        o tribunal
        o diretor do jornal
        as crianças|p
    """),
    "V": lines("""
        apresentou|apresentaram
        aprovou|aprovaram
        rejeitou|rejeitaram
        discutiu|discutiram
        publicou|publicaram
        anunciou|anunciaram
        inaugurou|inauguraram
        reparou|repararam
        analisou|analisaram
        defendeu|defenderam
        criticou|criticaram
        elogiou|elogiaram
        adiou|adiaram
        financiou|financiaram
        preparou|prepararam
        organizou|organizaram
        testou|testaram
        apoiou|apoiaram
        descreveu|descreveram
        explicou|explicaram
        planeou|planearam
        mediu|mediram
        restaurou|restauraram
        substituiu|substituíram
        ampliou|ampliaram
        concluiu|concluíram
        estudou|estudaram
        melhorou|melhoraram
        recolheu|recolheram
        visitou|visitaram
        pintou|pintaram
        limpou|limparam
        desenhou|desenharam
        pediu|pediram
        questionou|questionaram
    """),
    "O": lines("""
        um plano para as margens do rio
        os novos horários dos autocarros
        o orçamento do próximo ano
        uma proposta de habitação mais barata
        os resultados do inquérito
        um relatório sobre a qualidade do ar
        a velha ponte ferroviária
        uma lista de reparações urgentes
        o projeto de um novo parque infantil
        o programa de inverno
        um estudo sobre as aves da região
        as regras de estacionamento
        os números da colheita
        uma petição sobre o jardim público
        o custo da nova escola
        um mapa das ciclovias
        o horário da piscina
        um guia para os novos moradores
        a requalificação da praça do mercado
        uma exposição de fotografias antigas
        o abastecimento de água
        o telhado da câmara
        uma série de palestras públicas
        o calendário do verão
        um concerto na catedral
        as defesas contra as cheias
        um concurso para jovens escritores
        o futuro do porto
        a ementa da cantina escolar
        uma nova ligação de barco
        as conclusões da investigação
        a reparação da torre do relógio
        um fundo para pequenas empresas
        a lista de candidatos
        uma campanha contra o lixo
        o sistema de aquecimento
        os arquivos da paróquia
        uma horta para o hospital
        o preço dos bilhetes
        um caminho ao longo da costa
        a ideia de uma feira semanal
        os estragos depois da tempestade
        um programa de plantação de árvores
        o contrato do túnel
        uma coleção de cartas antigas
        os limites de velocidade junto às escolas
        uma formação para condutores
        o velho moinho
        uma oficina sobre apicultura
    """),
    "P": lines("""
        na câmara municipal
        na biblioteca
        perto da estação
        no centro histórico
        na praça principal
        no porto
        no centro comunitário
        atrás da catedral
        à beira da floresta
        na zona norte da cidade
        junto ao rio
        numa sala cheia
        na escola primária
        em frente ao museu
        na aldeia
        no campus
        no estádio
        no mercado municipal
        junto ao lago
        numa rua sossegada
        na feira
        no vale
        perto do aeroporto
        na ilha
        na zona industrial
    """),
    "T": lines("""
        na segunda-feira
        na terça-feira à noite
        na semana passada
        esta manhã
        depois de um longo debate
        no início do ano
        no final do mês
        durante o verão
        antes das férias
        na sexta-feira à tarde
        na primavera
        neste fim de semana
        no outono passado
        depois de vários atrasos
        em poucos dias
        numa reunião na quinta-feira
        no início de dezembro
        na quarta-feira à noite
        há duas semanas
        pela primeira vez
    """),
    "ADV": lines("""
        No entanto,
        Entretanto,
        Além disso,
        Por isso,
        Mesmo assim,
        No fim,
        Para surpresa de todos,
        Até agora,
        Mais tarde,
        Felizmente,
        Ao mesmo tempo,
        Mais uma vez,
        Pelo contrário,
        Na prática,
        Segundo os organizadores,
    """),
    "NAME": lines("""
        Ana Pereira|f
        Tomás Oliveira|m
        Margarida Santos|f
        João Ferreira|m
        Luísa Rodrigues|f
        Miguel Carvalho|m
        Helena Sousa|f
        Pedro Almeida|m
        Catarina Costa|f
        José Fonseca|m
        Inês Marques|f
        André Teixeira|m
        Isabel Gonçalves|f
        Rui Lopes|m
        Beatriz Moreira|f
    """),
    "ROLE": lines("""
        que preside à comissão
        porta-voz da câmara
        responsável pelo projeto
        professora na escola do bairro|f
        que vive aqui há quarenta anos
        membro da direção
        dono de um café vizinho|m
        engenheiro da empresa das águas|m
        enfermeira do hospital|f
        presidente da associação de moradores
        historiador da universidade|m
        treinador do clube|m
        voluntária no banco alimentar|f
        diretora do museu|f
        agricultor do vale|m
    """),
    "ADJ": lines("""
        prudente
        cara
        popular
        difícil
        bem-vinda
        invulgar
        modesta
        ambiciosa
        urgente
        prática
        razoável
        esperada
        generosa
        polémica
        notável
    """),
    "NUM": lines("""
        doze
        vinte
        trinta
        quarenta
        cinquenta
        sessenta
        setenta
        cem
        duzentos
        várias centenas de
        dezoito
        quinze
    """),
    "GRP": lines("""
        moradores
        visitantes
        alunos
        sócios
        trabalhadores
        vizinhos
        condutores
        comerciantes
        doentes
        leitores
        reformados
        cidadãos
    """),
    "FEEL": lines("""
        a mudança chegou tarde demais
        o plano é um bom começo
        a decisão foi justa
        vai ser preciso mais dinheiro
        as obras devem continuar no próximo ano
        a cidade precisa de uma resposta clara
        o processo foi demasiado lento
        ninguém perguntou nada aos moradores
        os custos ainda não estão claros
        o projeto vai ajudar toda a região
        os resultados falam por si
        o sistema antigo funcionava bastante bem
        os jovens vão ser os mais beneficiados
        o mau tempo complicou tudo
        ainda é preciso acertar os pormenores
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
    «{C}», disse {NAME}, {ROLE}.
    {NAME}, {ROLE}, considera que {FEEL}.
    {S} {V} {O} e, pouco depois, {S2} {V2} {O2}.
    {S} {V} {O}, enquanto {S2} {V2} {O2} {P2}.
    Cerca de {NUM} {GRP} vieram ver como {S} {V} {O} {P}.
    Foi uma medida {ADJ}: {S} {V} {O} {T}.
    Muitos {GRP} acham que {FEEL}, mas {S} {V} na mesma {O}.
    Porque é que {S} {V} {O} {T}? {NAME} acha que {FEEL}.
    A decisão foi {ADJ}, e {S} {V} {O} {P}.
    {T}, {S} {V} {O}, e {S2} {V2} {O2}.
    Ninguém esperava que {S} {V} {O} tão depressa.
    {S} também {V} {O}, uma iniciativa que muitos {GRP} consideram {ADJ}.
    Segundo {NAME}, {S} {V} {O} {T}.
    Antes disso, {S} {V} {O}, e depois {S2} {V2} {O2}.
    {ADV} quase {NUM} {GRP} garantem que {FEEL}.
    {NAME} lembra-se de como {S} {V} {O} {P} {T}.
    A ideia é {ADJ}, explica {NAME}, porque {FEEL}.
    {S} {V} {O}; {S2} {V2} {O2} {T2}.
""")

TITLES = lines("""
    {S} {V} {O}
    Foi assim que {S} {V} {O}
    {NAME}: «{FEEL}»
    {S} {V} {O} {P}
""")

STOPWORDS = {"de", "a", "o", "que", "e", "do", "da", "em", "um", "para", "não"}
