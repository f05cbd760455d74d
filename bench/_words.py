"""Word lists the corpus generator draws from; data only, no logic."""

from __future__ import annotations

#: topic slug -> (title, keywords); keywords go into titles and bodies so that
#: whole-word topic rules select a realistic share of entries
TOPICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ai": (
        "Artificial intelligence",
        ("artificial intelligence", "machine learning", "OpenAI", "neural network"),
    ),
    "climate": (
        "Climate",
        ("climate change", "emissions", "heatwave", "carbon capture"),
    ),
    "space": ("Space", ("NASA", "rocket launch", "Mars", "satellite")),
    "energy": ("Energy", ("solar power", "wind farm", "battery storage", "grid")),
    "health": ("Health", ("vaccine", "hospital", "public health", "clinical trial")),
    "markets": ("Markets", ("stock market", "inflation", "interest rates", "bonds")),
    "security": (
        "Security",
        ("ransomware", "data breach", "vulnerability", "zero-day"),
    ),
    "transport": (
        "Transport",
        ("electric vehicle", "railway", "airline", "self-driving"),
    ),
    "science": ("Science", ("physicists", "genome", "telescope", "fossil")),
    "politics": ("Politics", ("parliament", "election", "senate", "referendum")),
    "football": ("Football", ("Premier League", "striker", "transfer window")),
    "books": ("Books", ("novel", "memoir", "publisher", "literary prize")),
}

FIRST_NAMES = (
    "Ramsha Ana Ben Chloé Dmitri Elena Farid Grace Hiroshi Ines José Kavya Liam "
    "Maya Noor Olu Pablo Qing Rosa Sven Tariq Uma Vera Wei Xavier Yara Zoë "
    "Amara Björn Carmen Darius Emeka Fatima Gustavo Hana Ivan Jana Kofi Lucía"
).split()

LAST_NAMES = (
    "Riaz Okafor Novak García Müller Tanaka Kowalski Haddad Ivanova Silva Chen "
    "O'Brien Nguyen Rossi Dubois Johansson Abadi Mensah Petrova Fernández Kim "
    "Singh Larsen Moreau Costa Yilmaz Brennan Schmidt Sato Alvarez Eriksen Bauer"
).split()

OUTLETS = (
    "Daily Ledger|Morning Post|Tech Wire|Harbour Times|Northern Echo|Metro "
    "Courier|Valley Gazette|Open Source Weekly|Signal & Noise|The Observer Desk|"
    "River City News|Coastal Herald|Capital Dispatch|Lab Notes|Frontier Journal|"
    "Evening Standard-Bearer|Plain Text|Grid Report|Field Notes|Orbit Daily"
).split("|")

WORDS = (
    "the a of to and in that is for on with as it was by at from this be are "
    "have has had not but or an which their they were said its more after new "
    "also would been who will one about than when there into over year years "
    "people could two first last other some most only time government city "
    "company report officials week month data percent million billion plan "
    "public state national local community research team project policy market "
    "industry workers students researchers scientists engineers residents "
    "council agency board court study results analysis experts critics "
    "supporters leaders investors customers users developers network system "
    "service program budget funding cost prices growth decline increase record "
    "change future region country world global early late major small large "
    "significant recent current former previous annual quarterly official "
    "independent private federal regional international economic political "
    "social technical financial environmental scientific medical legal"
).split()

VERBS = (
    "announced reported confirmed warned said revealed launched approved "
    "rejected proposed introduced expanded reduced delayed unveiled signed "
    "criticised defended questioned published released tested measured"
).split()

TITLE_TEMPLATES = (
    "{Kw} {verb} as {noun} {verb2}",
    "Why {kw} matters for the {noun}",
    "{Noun} {verb} new {kw} plan",
    "Inside the {kw} debate: what {noun} say",
    "{Kw}: {noun} {verb} record {noun2}",
    "How {kw} is changing the {noun}",
    "{Noun} and {kw}, explained",
    "Analysis: {kw} after the {noun2}",
)

#: HTML entities as a news CMS emits them; the value is the numeric form used
#: where named entities are not allowed (XHTML content, XML 1.0 §4.6)
ENTITIES = {
    "&mdash;": "&#8212;",
    "&rsquo;": "&#8217;",
    "&ldquo;": "&#8220;",
    "&rdquo;": "&#8221;",
    "&eacute;": "&#233;",
    "&nbsp;": "&#160;",
    "&hellip;": "&#8230;",
    "&amp;": "&amp;",
}

#: syllables of the made-up words that give the vocabulary its long tail
SYLLABLES = (
    "ba be bi bo bu ca ce co da de di do fa fe fi ga ge go ha he hi ka ke ki ko la le "
    "li lo lu ma me mi mo mu na ne ni no nu pa pe pi po ra re ri ro ru sa se si so "
    "ta te ti to tu va ve vi vo za ze zo bran cor dal fen gar hol jun kes lar mor nel "
    "pol quin ros sel tor ul ven wil xan yor zel ster tran glo pri"
).split()
