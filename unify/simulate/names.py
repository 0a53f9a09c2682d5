"""Made-up but realistic text: customers (PII), addresses, postcodes, cities, products, Salesforce Ids.

All functions take the caller's random.Random, so output is a function of the seed. Values include
what real data has and parsers trip over: commas, double quotes, apostrophes, accents, line breaks.
"""

from __future__ import annotations

import random

FIRST_NAMES = (
    "Oliver", "Amelia", "Noah", "Isla", "Liam", "Emma", "Lucas", "Sofía", "Mateo", "Zoë", "Jakob", "Lena",
    "Daan", "Fleur", "Hugo", "Inès", "Aiden", "Chloé", "Ethan", "Mia", "Raj", "Ananya", "Kenji", "Yuki",
    "Seán", "Siobhán", "Björn", "Ingrid", "Lucía", "Javier", "Grace", "Mohammed", "Fatima", "Olu", "Ada",
)
LAST_NAMES = (
    "Smith", "Jones", "O'Brien", "García", "Müller", "de Vries", "Jansen", "Schmidt", "Fernández", "Brown",
    "Wilson", "Martin", "Dubois", "Rossi", "Nowak", "Kowalski", "Tremblay", "Roy", "Patel", "Nguyen",
    "Kim", "Okafor", "Murphy", "van der Berg", "Sánchez", "Johansson", "Williams", "MacDonald", "D'Souza",
)
COMPANY_WORDS = ("Harbor", "Summit", "Prairie", "Lakeside", "Metro", "Crown", "Union", "Pioneer", "Riverside",
                 "Oak", "Beacon", "Keystone", "Northgate", "Southbank", "Westfield", "Eastpoint")
COMPANY_KINDS = ("Stores", "Retail Group", "Trading", "Pharmacy", "Outfitters", "Supermarkets", "Clinics")
STREETS = {
    "GB": ("High Street", "Station Road", "Church Lane", "Baker Street", "King's Road"), "IE": ("Main Street",),
    "FR": ("Rue de la Paix", "Avenue Victor Hugo"), "NL": ("Kerkstraat", "Dorpsstraat"), "BE": ("Rue Neuve",),
    "DE": ("Hauptstraße", "Bahnhofstraße"), "AT": ("Mariahilfer Straße",), "PL": ("ul. Marszałkowska",),
    "ES": ("Calle Mayor", "Gran Vía"), "PT": ("Rua Augusta",), "US": ("Main Street", "Elm Street", "Maple Avenue"),
    "CA": ("Queen Street West", "Rue Sainte-Catherine"),
}

CITIES = {
    "GB": ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol", "Cardiff", "Belfast"),
    "IE": ("Dublin", "Cork", "Galway"),
    "FR": ("Paris", "Lyon", "Lille", "Marseille"),
    "NL": ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven", "'s-Hertogenbosch"),
    "BE": ("Brussels", "Antwerp", "Ghent"),
    "DE": ("Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Düsseldorf"),
    "AT": ("Wien", "Graz", "Linz"),
    "PL": ("Warszawa", "Kraków", "Poznań"),
    "ES": ("Madrid", "Barcelona", "Valencia", "Sevilla", "A Coruña"),
    "PT": ("Lisboa", "Porto"),
    "US": ("New York", "Philadelphia", "Boston", "Chicago", "Detroit", "Atlanta", "Washington, D.C."),
    "CA": ("Toronto", "Ottawa", "Montréal", "Hamilton", "Vancouver"),
}
# Carrier hubs a parcel passes through, by origin country.
HUBS = {
    "GB": ("Coventry", "Warrington", "Heathrow"), "NL": ("Venlo", "Amsterdam Schiphol"),
    "DE": ("Leipzig", "Kassel"), "ES": ("Zaragoza", "Getafe"), "US": ("Louisville", "Memphis", "Secaucus"),
    "CA": ("Mississauga", "Montréal"),
}
# Where orders from a warehouse country go, with weights.
DESTINATIONS = {
    "GB": (("GB", 85), ("IE", 6), ("FR", 5), ("DE", 4)),
    "NL": (("NL", 50), ("BE", 15), ("DE", 20), ("FR", 15)),
    "DE": (("DE", 70), ("AT", 10), ("NL", 10), ("PL", 10)),
    "ES": (("ES", 80), ("PT", 15), ("FR", 5)),
    "US": (("US", 95), ("CA", 5)),
    "CA": (("CA", 90), ("US", 10)),
}
_ALNUM = "ABCDEFGHJKLMNPRSTUVWXYZ"


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def company_customer(rng: random.Random) -> str:
    name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)}"
    roll = rng.random()
    if roll < 0.2:
        return f"{name}, LLC"
    if roll < 0.3:
        return f'{name} "{rng.choice(COMPANY_WORDS)}"'
    return name


def postcode(rng: random.Random, country: str) -> str:
    r = rng.randrange
    letters = lambda n: "".join(rng.choice(_ALNUM) for _ in range(n))  # noqa: E731
    if country == "GB":
        return f"{letters(2)}{r(1, 20)} {r(1, 10)}{letters(2)}"
    if country == "NL":
        return f"{r(1000, 9999)} {letters(2)}"
    if country == "CA":
        return f"{letters(1)}{r(10)}{letters(1)} {r(10)}{letters(1)}{r(10)}"
    if country == "IE":
        return f"D{r(1, 24):02d} {letters(1)}{r(100, 999)}"
    if country == "PT":
        return f"{r(1000, 9999)}-{r(100, 999)}"
    if country == "US":
        return f"{r(1000, 99999):05d}"
    if country in ("BE", "AT"):
        return f"{r(1000, 9999)}"
    return f"{r(10000, 99999)}"


def address(rng: random.Random, city: str, country: str) -> str:
    street = f"{rng.randrange(1, 250)} {rng.choice(STREETS[country])}"
    roll = rng.random()
    if roll < 0.15:
        return f"Flat {rng.randrange(1, 40)}\n{street}, {city}"  # a line break inside a CSV value
    if roll < 0.25:
        return f"Unit {rng.randrange(1, 12)}, {street}\n{city}"
    return f"{street}, {city}"


PRODUCT_ADJECTIVES = ("Classic", "Pro", "Eco", "Ultra", "Compact", "Deluxe", "Essential", "Travel", "Heavy-Duty")
PRODUCT_NOUNS = ("Backpack", "Water Bottle", "Headphones", "Desk Lamp", "Yoga Mat", "Phone Case", "Kettle",
                 "Running Shoes", "Socks", "Face Serum", "Drill Bits", "Dog Bed", "Notebook", "Cable",
                 "Vitamin D3", "Monitor 27\"", "Tea Tin", "Baby Blanket")
COLOURS = ("Black", "Navy", "Red", "Sage", "White", "Stone")


def product_description(rng: random.Random) -> str:
    noun = rng.choice(PRODUCT_NOUNS)
    text = f"{rng.choice(PRODUCT_ADJECTIVES)} {noun}"
    roll = rng.random()
    if roll < 0.5:
        text += f", {rng.choice(COLOURS)}"  # a comma inside the value
    elif roll < 0.6:
        text += f' "{rng.choice(("Limited", "Signature", "Original"))} Edition"'
    return text


# --- Salesforce Ids -------------------------------------------------------------------------------

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_PREFIX = {"User": "005", "Account": "001", "Contract": "800"}


def salesforce_id(object_name: str, number: int) -> str:
    """An 18-character Salesforce Id: key prefix, pod, counter in base 62, case-safe checksum suffix."""
    digits = ""
    n = number
    for _ in range(9):
        n, rest = divmod(n, 62)
        digits = _BASE62[rest] + digits
    short = f"{ID_PREFIX[object_name]}8d0{digits}"
    suffix = ""
    for chunk in range(3):
        flags = sum(1 << i for i, ch in enumerate(short[chunk * 5:chunk * 5 + 5]) if "A" <= ch <= "Z")
        suffix += _SUFFIX[flags]
    return short + suffix


def uuid_text(rng: random.Random) -> str:
    """A version-4 UUID drawn from rng (AppFlow execution ids look like this)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def tracking_number(rng: random.Random, carrier_number: int, scac: str | None) -> str:
    if scac == "UPSN":
        return "1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(16))
    if scac in ("RMPF", "CPCL", "PNLX"):
        return f"{rng.choice(_ALNUM)}{rng.choice(_ALNUM)}{rng.randrange(10**8, 10**9)}{'GB' if scac == 'RMPF' else 'CA' if scac == 'CPCL' else 'NL'}"
    if scac == "MAEU":
        return f"MAEU{rng.randrange(10**8, 10**9)}"
    return f"{carrier_number:02d}{rng.randrange(10**10, 10**11)}"
