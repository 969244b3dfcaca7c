"""English word lists and templates (hand-written for the embedded sample)."""
import re

from .prose import lines

SLOTS = {
    "S": lines("""
        the city council|p
        the regional government
        a small group of volunteers|p
        the new director
        local farmers|p
        the research team
        several neighbours|p
        the school board
        our reporter
        the harbour authority
        the museum staff|p
        a retired engineer
        the football club
        the library
        young families|p
        the mayor
        the transport company
        most shop owners|p
        the health service
        a panel of experts|p
        the river trust
        the festival organisers|p
        the university
        two students|p
        the fire brigade
        the weather office
        the bakery on the corner
        the orchestra
        the committee
        residents of the old town|p
        the hospital
        a local historian
        the union|p
        the ministry
        the gardeners|p
        the chief architect
        the police
        the tourist office
        a team of nurses|p
        the village choir
        the energy cooperative
        the cycling club
        the court
        the editor
        the children|p
        the owners of the mill|p
        the rail operator
        the planning office
        the youth theatre
        a group of parents|p
    """),
    "V": lines("""
        presented
        approved
        rejected
        discussed
        published
        announced
        opened
        repaired
        reviewed
        defended
        criticised
        welcomed
        delayed
        funded
        prepared
        organised
        tested
        questioned
        supported
        described
        explained
        planned
        measured
        restored
        recorded
        replaced
        expanded
        shared
        finished
        examined
        postponed
        promoted
        celebrated
        improved
        collected
        studied
        visited
        painted
        cleaned
        designed
    """),
    "O": lines("""
        a plan for the riverside
        the new bus timetable
        the annual budget
        a proposal for cheaper housing
        the results of the survey
        a report on air quality
        the old railway bridge
        a list of urgent repairs
        the design for a new playground
        the winter programme
        a study of local birds
        the rules for street parking
        the harvest figures
        a petition about the park
        the costs of the new school
        a map of the cycling routes
        the opening hours of the pool
        a guide for new residents
        the plans for the market square
        an exhibition of old photographs
        the water supply
        the roof of the town hall
        a series of public lectures
        the schedule for the summer
        a concert in the cathedral
        the flood defences
        a competition for young writers
        the future of the harbour
        the menu for the school canteen
        a new route for the ferry
        the findings of the inquiry
        the repair of the clock tower
        a fund for small businesses
        the list of candidates
        a campaign against litter
        the heating system
        the records of the parish
        a garden for the hospital
        the price of the tickets
        a new path along the coast
        the idea of a weekly market
        the damage after the storm
        a scheme to plant more trees
        the contract for the tunnel
        a collection of letters
        the speed limits near schools
        a training course for drivers
        the figures for unemployment
        the old windmill
        a workshop on bee keeping
    """),
    "P": lines("""
        in the town hall
        at the library
        near the station
        in the old quarter
        on the main square
        at the harbour
        in the community centre
        behind the cathedral
        at the edge of the forest
        in the northern district
        along the river
        in a crowded hall
        at the primary school
        outside the museum
        in the village
        on the university campus
        at the sports ground
        in the market hall
        by the lake
        in a quiet street
        at the county fair
        in the valley
        near the airport
        on the island
        in the industrial park
    """),
    "T": lines("""
        on Monday
        on Tuesday evening
        last week
        this morning
        after a long debate
        earlier this year
        at the end of the month
        during the summer
        before the holidays
        on Friday afternoon
        in the spring
        over the weekend
        last autumn
        after several delays
        within a few days
        at a meeting on Thursday
        in early December
        late on Wednesday
        two weeks ago
        for the first time
    """),
    "ADV": lines("""
        However,
        Meanwhile,
        At the same time,
        In addition,
        As a result,
        Nevertheless,
        For many people,
        According to the organisers,
        In the end,
        Surprisingly,
        Not everyone agreed, and
        Once again,
        By contrast,
        Until now,
        In practice,
        Later,
        Fortunately,
        Some residents say that
        Critics argue that
        Supporters believe that
    """),
    "NAME": lines("""
        Anna Fletcher
        Tom Barker
        Margaret Owens
        David Lin
        Sarah Whitfield
        James Okafor
        Helen Marsh
        Peter Gallagher
        Ruth Campbell
        Michael Dunmore
        Laura Fenwick
        Samuel Price
        Grace Holloway
        Daniel Reyes
        Emily Thornton
        George Abbott
        Olivia Hart
        Robert Kingsley
        Alice Moreton
        Henry Walsh
    """),
    "ROLE": lines("""
        who chairs the committee
        a spokesperson for the council
        the head of the project
        a teacher at the local school
        who has lived here for forty years
        a member of the board
        the owner of a nearby cafe
        an engineer with the water company
        a nurse at the hospital
        who leads the residents association
        a historian at the university
        the manager of the club
        a volunteer at the food bank
        the director of the museum
        a farmer from the valley
    """),
    "ADJ": lines("""
        careful
        costly
        popular
        difficult
        welcome
        unusual
        modest
        ambitious
        urgent
        practical
        sensible
        overdue
        generous
        controversial
        remarkable
    """),
    "NUM": lines("""
        twelve
        twenty
        thirty
        forty
        fifty
        sixty
        seventy
        a hundred
        two hundred
        several hundred
        eighteen
        fifteen
    """),
    "GRP": lines("""
        residents
        visitors
        pupils
        members
        workers
        households
        drivers
        shops
        farms
        families
        patients
        readers
    """),
    "FEEL": lines("""
        the change came too late
        the plan was a good start
        the decision was fair
        more money would be needed
        the work should continue next year
        the town needed a clear answer
        the process had been too slow
        nobody had asked them
        the costs were still unclear
        the project would help the whole region
        the results spoke for themselves
        the old system had worked well enough
        young people would benefit most
        the weather had made everything harder
        the details still had to be agreed
    """),
}

CLAUSES = lines("""
    {S} {V} {O}
    {S} {V} {O} {P}
    {S} {V} {O} {T}
    {S} {V} {O} {P} {T}
    {FEEL}
""")

SENTENCES = lines("""
    {S} {V} {O} {P} {T}.
    {T}, {S} {V} {O}.
    {ADV} {S} {V} {O} {P}.
    {ADV} {C}.
    "{C}," said {NAME}, {ROLE}.
    {NAME}, {ROLE}, said that {FEEL}.
    {S} {V} {O} after {S2} {V2} {O2}.
    {S} {V} {O}, while {S2} {V2} {O2} {P2}.
    About {NUM} {GRP} came to see how {S} {V} {O} {P}.
    It was a {ADJ} step: {S} {V} {O} {T}.
    Many {GRP} felt that {FEEL}, but {S} {V} {O} anyway.
    Why was it {ADJ} that {S} {V} {O} {T}? {NAME} thinks that {FEEL}.
    The decision was {ADJ}, and {S} {V} {O} {P}.
    {T}, {S} {V} {O}, and {S2} {V2} {O2}.
    Nobody expected that {S} {V} {O} so quickly.
    {S} also {V} {O}, which many {GRP} found {ADJ}.
    According to {NAME}, {S} {V} {O} {T}.
    Before {S} {V} {O}, {S2} {V2} {O2}.
    {ADV} around {NUM} {GRP} said that {FEEL}.
    {NAME} remembers how {S} {V} {O} {P} {T}.
    The plan is {ADJ}, says {NAME}, because {FEEL}.
    {S} {V} {O}; {S2} {V2} {O2} {T2}.
""")

# English is half the sample and what the demo model learns from: give it the most words.
SLOTS["S"] += lines("""
    the county archivist
    a coalition of tenants|p
    the water board
    the new headteacher
    the bus drivers|p
    the chamber of commerce
    a local charity
    the parish council
    the night shift|p
    the town planners|p
    a group of architects|p
    the conservation officer
    the caretaker
    the community radio station
    the allotment society
    the sailing school
    several landlords|p
    the district nurse
    the housing association
    the police commissioner
    a delegation from the twin town
    the gallery
    the postmaster
    the trustees|p
    the lifeboat crew|p
    the volunteers from the church|p
    the sixth formers|p
    the ambulance service
    the film society
    the brass band
""")
SLOTS["V"] += lines("""
    inspected
    debated
    signed
    drafted
    submitted
    opposed
    praised
    revised
    inaugurated
    scrapped
    simplified
    documented
    surveyed
    negotiated
    renewed
    unveiled
    evaluated
    sponsored
    rebuilt
    rescheduled
    monitored
    catalogued
    advertised
    protected
    reopened
""")
SLOTS["O"] += lines("""
    the lease for the old cinema
    a new crossing near the primary school
    the accounts of the last three years
    a statue of a forgotten poet
    the drainage under the high street
    a memorial for the fishermen
    the terms of the new contract
    a shelter for homeless people
    the lighting in the underpass
    a library van for remote farms
    the waiting times at the surgery
    the bells of the old church
    a network of footpaths
    the timetable for the school buses
    a register of empty shops
    the plans for a second bridge
    a mural on the station wall
    the hedges along the canal
    a nature reserve on the old quarry
    the future of the cattle market
    a proposal to close the lane at night
    the noise from the new factory
    a local history trail
    the wages of the cleaners
    a bid for national funding
    the state of the sea wall
    a cheaper fare for students
    the damaged organ in the chapel
    a garden for the care home
    the recycling rules for flats
    the archive of the old newspaper
    a pilot scheme for electric buses
    the fire safety checks in the tower
    a summer reading challenge
    the parking fees at the hospital
""")
SLOTS["P"] += lines("""
    in the parish hall
    at the old quarry
    on the canal towpath
    in the shopping arcade
    at the bus depot
    on the seafront
    in the council chamber
    at the care home
    by the war memorial
    in the car park behind the church
    at the allotments
    in the covered market
""")
SLOTS["T"] += lines("""
    at short notice
    after months of planning
    despite the rain
    on a cold Saturday morning
    shortly before midnight
    in the middle of the night
    at the start of the school term
    after a public consultation
    on the last day of the festival
    during the heatwave
""")
SLOTS["FEEL"] += lines("""
    the council had listened for once
    nobody really understood the plan
    the small shops would suffer most
    the figures did not add up
    the decision was long overdue
    the old building deserved better
    the village had been forgotten again
    the new rules were too complicated
    the money would be better spent on schools
    it was a good day for the town
""")
SENTENCES += lines("""
    Residents were told {T} that {S} {V} {O}.
    It is not the first time that {S} {V} {O} {P}.
    "We have waited long enough," said {NAME}, {ROLE}, after {S} {V} {O}.
    In a short statement, {NAME} confirmed that {S} {V} {O} {T}.
    The cost remains unclear, but {S} {V} {O} {P}.
    Asked about the delay, {NAME} said that {FEEL}.
    What happens next depends on whether {S} {V} {O} {T}.
    Photographs from {P} show how {S} {V} {O}.
    With the help of {NUM} {GRP}, {S} {V} {O} {T}.
    For {NAME}, {ROLE}, the news was {ADJ}: {FEEL}.
""")

TITLES = lines("""
    {S} {V} {O}
    How {S} {V} {O}
    {NAME}: "{FEEL}"
    Why {S} {V} {O} {T}
    {S} {V} {O} {P}
""")

STOPWORDS = {"the", "be", "to", "of", "and", "that", "have", "with"}

# Topic vocabularies mixed into the general slots, so pages on different sites read differently.
TOPICS = {
    "sport": {
        "S": lines("""
            the home team|p
            the new coach
            the goalkeeper
            the rowing club
            the young striker
            the league officials|p
            two veteran runners|p
            the tennis academy
            the swimming squad
            the club captain
            the referees|p
            the visiting side
            the hockey players|p
            the marathon organisers|p
            the cricket club
        """),
        "O": lines("""
            the training schedule for the new season
            a late winning goal
            the plans for a new stadium roof
            the results of the spring tournament
            a record time over ten kilometres
            the rules for youth matches
            the ticket prices for the final
            a fitness programme for older members
            the pitch after heavy rain
            the squad for the away game
            a charity match against the firefighters
            the renovation of the changing rooms
            a summer camp for young players
            the timetable of the regional cup
            the medals from the national championship
        """),
        "P": lines("""
            at the stadium
            on the training ground
            at the indoor arena
            on the home pitch
            at the swimming baths
            along the marathon route
            in the clubhouse
        """),
        "V": lines("""
            won
            lost
            trained for
            coached
            scored
            celebrated
        """),
    },
    "science": {
        "S": lines("""
            a team of biologists|p
            the observatory
            the chemistry department
            a young astronomer
            the marine researchers|p
            the soil scientists|p
            the laboratory
            a doctoral student
            the climate institute
            the geologists|p
            the botanical garden
            the physics society
            a group of engineers|p
            the science museum
        """),
        "O": lines("""
            a new species of beetle
            the data from the weather balloons
            samples of river sediment
            a telescope on the hill
            the growth of sea grass
            a model of the glacier
            the results of a ten year study
            the migration of the swallows
            a method to clean old paintings
            the temperature of the lake
            a map of underground water
            the age of the oldest oak
            a cheaper way to store energy
            the sounds of bats at night
            the first images from the satellite
        """),
        "P": lines("""
            in the laboratory
            at the research station
            on the mountain ridge
            in the salt marsh
            at the observatory
            on the research ship
            in the old greenhouse
        """),
        "V": lines("""
            analysed
            discovered
            observed
            modelled
            calculated
            catalogued
        """),
    },
    "food": {
        "S": lines("""
            the head chef
            a family bakery
            the cheese makers|p
            the vineyard
            a small brewery
            the market traders|p
            the cookery school
            a vegetarian cafe
            the fishmonger
            the beekeepers|p
            the orchard owners|p
            the food bank
            a pastry cook
            the tea room
        """),
        "O": lines("""
            a new recipe for rye bread
            the autumn menu
            a harvest of late apples
            the first honey of the year
            a soup made from wild garlic
            the price of flour
            a stall with local cheeses
            a guide to seasonal vegetables
            the old bread oven
            a tasting of regional wines
            a course on making pasta
            the plum jam competition
            a lunch for two hundred guests
            the smoked fish from the harbour
            a cake for the village fair
        """),
        "P": lines("""
            in the kitchen
            at the farmers market
            in the old bakery
            in the orchard
            at the harvest festival
            behind the cafe
            in the cellar
        """),
        "V": lines("""
            baked
            cooked
            tasted
            served
            sold
            harvested
        """),
    },
    "travel": {
        "S": lines("""
            a group of hikers|p
            the ferry company
            the mountain guides|p
            a young couple|p
            the coach operator
            the youth hostel
            the island council
            two cyclists from the south|p
            the travel writer
            the campsite owners|p
            the lighthouse keeper
            the walking club
            the harbour master
            a family from the city|p
        """),
        "O": lines("""
            a new walking route across the hills
            the night train to the coast
            the view from the old fortress
            a map of hidden beaches
            the timetable of the island ferry
            a guide to mountain huts
            the ruins of the abbey
            the long path around the lake
            a week by bicycle through the valleys
            the oldest inn in the region
            a boat trip to the seal colony
            the winter opening of the cable car
            a tour of the salt mines
            the coastal path after the landslide
            a list of quiet places to camp
        """),
        "P": lines("""
            on the mountain pass
            at the ferry terminal
            on the coastal path
            in the fishing village
            at the old fortress
            on the island
            near the waterfall
        """),
        "V": lines("""
            explored
            crossed
            photographed
            recommended
            mapped
            toured
        """),
    },
    "technology": {
        "S": lines("""
            the software team
            a local start-up
            the network engineers|p
            the library's digital service
            a group of students|p
            the electronics shop
            the council's IT department
            the developers|p
            a retired programmer
            the broadband provider
            the repair cafe
            the robotics club
            the data protection officer
            the makers in the workshop|p
        """),
        "O": lines("""
            a new app for bus tickets
            the fibre network in the villages
            a cheaper way to repair phones
            the update for the booking system
            a course on writing software
            the old computers from the school
            a robot that sorts waste
            the charging points for electric cars
            a sensor that measures noise
            the website of the town hall
            a guide to safer passwords
            the wireless network in the park
            the backup of the archive
            a small satellite built by pupils
            the rules for storing personal data
        """),
        "P": lines("""
            in the workshop
            at the technology fair
            in the server room
            at the repair cafe
            in the new office
            at the coding club
            in the computer room
        """),
        "V": lines("""
            built
            installed
            upgraded
            programmed
            launched
            debugged
        """),
    },
}


def postprocess(text: str) -> str:
    """'a' before a vowel sound becomes 'an' (our words have no silent h or 'yoo' u)."""
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU](?!ni|s[eu]))", r"\1n ", text)
