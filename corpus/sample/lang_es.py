"""Spanish word lists and templates (hand-written for the embedded sample)."""
import re

from .prose import lines

SLOTS = {
    "S": lines("""
        el ayuntamiento
        el gobierno regional
        un pequeño grupo de voluntarios
        la nueva directora
        los agricultores del valle|p
        el equipo de investigación
        varios vecinos|p
        el director del colegio
        nuestra periodista
        la autoridad portuaria
        el museo
        un ingeniero jubilado
        el club de fútbol
        la biblioteca municipal
        las familias jóvenes|p
        la alcaldesa
        la empresa de transportes
        la mayoría de los comerciantes|p
        el servicio de salud
        un grupo de expertos
        la asociación ecologista
        los organizadores de la feria|p
        la universidad
        dos estudiantes|p
        los bomberos|p
        el servicio meteorológico
        la panadería de la esquina
        la orquesta
        la comisión
        los vecinos del casco antiguo|p
        el hospital
        un historiador local
        el sindicato
        el ministerio
        los jardineros|p
        el arquitecto jefe
        la policía local
        la oficina de turismo
        un equipo de enfermeras
        el coro del pueblo
        la cooperativa eléctrica
        el club ciclista
        el tribunal
        el director del periódico
        los niños|p
    """),
    "V": lines("""
        presentó|presentaron
        aprobó|aprobaron
        rechazó|rechazaron
        debatió|debatieron
        publicó|publicaron
        anunció|anunciaron
        inauguró|inauguraron
        reparó|repararon
        revisó|revisaron
        defendió|defendieron
        criticó|criticaron
        celebró|celebraron
        aplazó|aplazaron
        financió|financiaron
        preparó|prepararon
        organizó|organizaron
        probó|probaron
        apoyó|apoyaron
        describió|describieron
        explicó|explicaron
        planificó|planificaron
        midió|midieron
        restauró|restauraron
        sustituyó|sustituyeron
        amplió|ampliaron
        terminó|terminaron
        estudió|estudiaron
        mejoró|mejoraron
        recogió|recogieron
        visitó|visitaron
        pintó|pintaron
        limpió|limpiaron
        diseñó|diseñaron
        solicitó|solicitaron
        cuestionó|cuestionaron
    """),
    "O": lines("""
        un plan para la ribera del río
        los nuevos horarios del autobús
        el presupuesto del año que viene
        una propuesta de viviendas más baratas
        los resultados de la encuesta
        un informe sobre la calidad del aire
        el viejo puente del ferrocarril
        una lista de reparaciones urgentes
        el diseño de un nuevo parque infantil
        el programa de invierno
        un estudio sobre las aves de la comarca
        las normas de aparcamiento
        las cifras de la cosecha
        una petición sobre el parque
        el coste de la nueva escuela
        un mapa de los carriles bici
        el horario de la piscina
        una guía para los nuevos vecinos
        la reforma de la plaza mayor
        una exposición de fotografías antiguas
        el suministro de agua
        el tejado del ayuntamiento
        una serie de conferencias públicas
        el calendario del verano
        un concierto en la catedral
        las defensas contra las inundaciones
        un concurso para jóvenes escritores
        el futuro del puerto
        el menú del comedor escolar
        una nueva ruta para el ferry
        las conclusiones de la investigación
        la reparación del campanario
        un fondo para pequeñas empresas
        la lista de candidatos
        una campaña contra la basura
        la calefacción
        los archivos de la parroquia
        un huerto para el hospital
        el precio de las entradas
        un sendero junto a la costa
        la idea de un mercado semanal
        los daños tras la tormenta
        un plan para plantar árboles
        el contrato del túnel
        una colección de cartas antiguas
        los límites de velocidad cerca de los colegios
        un curso para conductores
        el viejo molino
        un taller de apicultura
    """),
    "P": lines("""
        en el ayuntamiento
        en la biblioteca
        cerca de la estación
        en el casco antiguo
        en la plaza mayor
        en el puerto
        en el centro cívico
        detrás de la catedral
        a las afueras del pueblo
        en el barrio norte
        junto al río
        en una sala llena
        en el colegio
        delante del museo
        en el pueblo
        en el campus
        en el polideportivo
        en el mercado
        junto al lago
        en una calle tranquila
        en la feria
        en el valle
        cerca del aeropuerto
        en la isla
        en el polígono industrial
    """),
    "T": lines("""
        el lunes
        el martes por la noche
        la semana pasada
        esta mañana
        después de un largo debate
        a principios de año
        a finales de mes
        durante el verano
        antes de las vacaciones
        el viernes por la tarde
        en primavera
        este fin de semana
        el otoño pasado
        tras varios retrasos
        en pocos días
        en una reunión el jueves
        a principios de diciembre
        el miércoles por la noche
        hace dos semanas
        por primera vez
    """),
    "ADV": lines("""
        Sin embargo,
        Mientras tanto,
        Además,
        Por eso,
        Aun así,
        Al final,
        Para sorpresa de todos,
        Hasta ahora,
        Más tarde,
        Por suerte,
        Al mismo tiempo,
        Una vez más,
        En cambio,
        En la práctica,
        Según los organizadores,
    """),
    "NAME": lines("""
        Ana García|f
        Tomás Fernández|m
        Margarita López|f
        Javier Martínez|m
        Lucía Sánchez|f
        Miguel Romero|m
        Elena Navarro|f
        Pedro Jiménez|m
        Carmen Ruiz|f
        José Luis Moreno|m
        Laura Castillo|f
        Andrés Ortega|m
        Isabel Delgado|f
        Daniel Vázquez|m
        Pilar Herrero|f
    """),
    "ROLE": lines("""
        que preside la comisión
        portavoz del ayuntamiento
        responsable del proyecto
        maestra del colegio del barrio|f
        que vive aquí desde hace cuarenta años
        miembro de la junta directiva
        dueño de un bar cercano|m
        ingeniero de la compañía de aguas|m
        enfermera del hospital|f
        presidenta de la asociación de vecinos|f
        historiador de la universidad|m
        entrenador del club|m
        voluntaria del banco de alimentos|f
        directora del museo|f
        agricultor del valle|m
    """),
    "ADJ": lines("""
        prudente
        costosa
        popular
        difícil
        bienvenida
        inusual
        modesta
        ambiciosa
        urgente
        práctica
        razonable
        esperada
        generosa
        polémica
        notable
    """),
    "NUM": lines("""
        doce
        veinte
        treinta
        cuarenta
        cincuenta
        sesenta
        setenta
        cien
        doscientos
        varios cientos de
        dieciocho
        quince
    """),
    "GRP": lines("""
        vecinos
        visitantes
        alumnos
        socios
        trabajadores
        hogares
        conductores
        comerciantes
        propietarios
        pacientes
        lectores
        jubilados
    """),
    "FEEL": lines("""
        el cambio ha llegado demasiado tarde
        el plan es un buen comienzo
        la decisión fue justa
        hará falta más dinero
        las obras deben seguir el año que viene
        la ciudad necesita una respuesta clara
        el proceso ha sido demasiado lento
        nadie les preguntó a los vecinos
        los costes todavía no están claros
        el proyecto ayudará a toda la comarca
        los resultados hablan por sí solos
        el sistema antiguo funcionaba bastante bien
        los jóvenes serán los más beneficiados
        el tiempo lo ha complicado todo
        todavía hay que acordar los detalles
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
    «{C}», dijo {NAME}, {ROLE}.
    {NAME}, {ROLE}, cree que {FEEL}.
    {S} {V} {O} después de que {S2} {V2} {O2}.
    {S} {V} {O}, mientras que {S2} {V2} {O2} {P2}.
    Unos {NUM} {GRP} acudieron para ver cómo {S} {V} {O} {P}.
    Fue una medida {ADJ}: {S} {V} {O} {T}.
    Muchos {GRP} piensan que {FEEL}, pero {S} {V} igualmente {O}.
    ¿Por qué {V} {S} {O} {T}? {NAME} opina que {FEEL}.
    La decisión fue {ADJ}, y {S} {V} {O} {P}.
    {T}, {S} {V} {O}, y {S2} {V2} {O2}.
    Nadie esperaba que {S} {V} {O} tan rápido.
    {S} también {V} {O}, una iniciativa que muchos {GRP} consideran {ADJ}.
    Según {NAME}, {S} {V} {O} {T}.
    Antes de eso, {S} {V} {O}, y luego {S2} {V2} {O2}.
    {ADV} cerca de {NUM} {GRP} aseguran que {FEEL}.
    {NAME} recuerda cómo {S} {V} {O} {P} {T}.
    La idea es {ADJ}, explica {NAME}, porque {FEEL}.
    {S} {V} {O}; {S2} {V2} {O2} {T2}.
""")

TITLES = lines("""
    {S} {V} {O}
    Así {V} {S} {O}
    {NAME}: «{FEEL}»
    {S} {V} {O} {P}
""")

STOPWORDS = {"de", "la", "que", "el", "en", "y", "los", "del", "se", "las"}


def postprocess(text: str) -> str:
    """Contractions the slots cannot know about."""
    text = re.sub(r"\bde el\b", "del", text)
    text = re.sub(r"\ba el\b", "al", text)
    return text
