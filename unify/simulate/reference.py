"""Fixed reference data of GLC's simulated operations: the same at every scale and every seed.

Other parts of the project rely on these values (dbt seeds, access grants, tests), so import them from
here rather than copying them: warehouses, currencies, tiers, carrier modes, the carriers and the
Salesforce users (account managers and staff). Usernames are lowercase e-mail style logins; they are
also the person's warehouse and QuickSight user names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Warehouse:
    warehouse_id: int
    code: str
    name: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    time_zone: str  # IANA
    opened: date
    utc_offset_hours: int  # standard-time offset; the simulator's daily rhythm only (no DST)

    @property
    def currency(self) -> str:
        """Freight is billed in the currency of the shipping warehouse's country."""
        return CURRENCY_BY_COUNTRY[self.country]


WAREHOUSES: tuple[Warehouse, ...] = (
    Warehouse(1, "LHR1", "London Heathrow DC", "London", "GB", "Europe/London", date(2012, 4, 2), 0),
    Warehouse(2, "MAN1", "Manchester Trafford DC", "Manchester", "GB", "Europe/London", date(2015, 9, 14), 0),
    Warehouse(3, "RTM1", "Rotterdam Europoort DC", "Rotterdam", "NL", "Europe/Amsterdam", date(2014, 3, 3), 1),
    Warehouse(4, "FRA1", "Frankfurt Cargo City DC", "Frankfurt", "DE", "Europe/Berlin", date(2016, 6, 1), 1),
    Warehouse(5, "MAD1", "Madrid Coslada DC", "Madrid", "ES", "Europe/Madrid", date(2018, 1, 15), 1),
    Warehouse(6, "EWR1", "Newark Port DC", "Newark", "US", "America/New_York", date(2011, 10, 10), -5),
    Warehouse(7, "ORD1", "Chicago O'Hare DC", "Chicago", "US", "America/Chicago", date(2013, 5, 20), -6),
    Warehouse(8, "YYZ1", "Mississauga DC", "Mississauga", "CA", "America/Toronto", date(2019, 8, 26), -5),
)
WAREHOUSE_BY_ID = {w.warehouse_id: w for w in WAREHOUSES}
WAREHOUSE_BY_CODE = {w.code: w for w in WAREHOUSES}

# Freight currency = currency of the shipping warehouse's country.
CURRENCY_BY_COUNTRY = {"GB": "GBP", "NL": "EUR", "DE": "EUR", "ES": "EUR", "US": "USD", "CA": "CAD"}
FREIGHT_CURRENCIES = ("GBP", "EUR", "USD", "CAD")
# Currencies of Salesforce Accounts and Contracts (fees are billed in the contract's currency).
CONTRACT_CURRENCIES = ("USD", "EUR", "GBP")
CONTRACT_CURRENCY_BY_COUNTRY = {"GB": "GBP", "NL": "EUR", "DE": "EUR", "ES": "EUR", "US": "USD", "CA": "USD"}
# Rough value of one unit of each currency in USD: sizes freight costs plausibly (not a rate table;
# the project's currency seed is the reference for conversions).
APPROX_USD_PER_UNIT = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "CAD": 0.73}

TIERS = ("Gold", "Silver", "Bronze")
CARRIER_MODES = ("ROAD", "AIR", "OCEAN", "PARCEL")
ORDER_STATUSES = ("NEW", "ALLOCATED", "PICKING", "PACKED", "SHIPPED", "CANCELLED")
SHIPMENT_STATUSES = ("IN_TRANSIT", "DELIVERED", "EXCEPTION", "RETURNED")
TRACKING_EVENT_CODES = ("PICKED_UP", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED", "EXCEPTION")
CONTRACT_STATUSES = ("Draft", "Activated", "Expired")

COUNTRY_NAMES = {
    "GB": "United Kingdom", "NL": "Netherlands", "DE": "Germany", "ES": "Spain", "US": "United States",
    "CA": "Canada", "IE": "Ireland", "FR": "France", "BE": "Belgium", "AT": "Austria", "PL": "Poland",
    "PT": "Portugal",
}


@dataclass(frozen=True)
class Carrier:
    number: int  # the TMS's internal sequence; its carrier_id is an opaque string made from it
    name: str
    scac: str | None
    mode: str
    countries: tuple[str, ...]  # origin countries it collects from
    on_time_rate: float  # share of shipments delivered by the planned day (before exceptions)

    @property
    def carrier_id(self) -> str:
        """The TMS's identifier, an opaque string like `C7` (DOMAIN.md: never promised numeric)."""
        return tms_carrier_id(self.number)


def tms_carrier_id(number: int) -> str:
    return f"C{number}"


def tms_shipment_id(number: int) -> str:
    """TMS shipment ids are strings such as SHP-700000123 (the simulator keeps the number inside)."""
    return f"SHP-{number}"


def tms_event_id(number: int) -> str:
    """TMS tracking event ids are strings such as E9000000123."""
    return f"E{number}"


CARRIERS: tuple[Carrier, ...] = (
    Carrier(1, "Royal Mail Parcelforce", "RMPF", "PARCEL", ("GB",), 0.975),
    Carrier(2, "DPD", "DPDG", "PARCEL", ("GB", "NL", "DE", "ES"), 0.98),
    Carrier(3, "DHL Express", "DHLX", "AIR", ("GB", "NL", "DE", "ES", "US", "CA"), 0.985),
    Carrier(4, "UPS", "UPSN", "PARCEL", ("GB", "NL", "DE", "US", "CA"), 0.98),
    Carrier(5, "FedEx Ground", "FDEG", "PARCEL", ("US", "CA"), 0.97),
    Carrier(6, "XPO Logistics", "XPOL", "ROAD", ("US", "CA"), 0.965),
    Carrier(7, "DB Schenker", "SCHK", "ROAD", ("NL", "DE", "ES", "GB"), 0.97),
    Carrier(8, "Maersk Line", "MAEU", "OCEAN", ("GB", "NL", "DE", "ES", "US", "CA"), 0.95),
    Carrier(9, "Canada Post", "CPCL", "PARCEL", ("CA",), 0.965),
    Carrier(10, "Correos Express", "CREX", "PARCEL", ("ES",), 0.96),
    Carrier(11, "PostNL", "PNLX", "PARCEL", ("NL",), 0.975),
    Carrier(12, "Kuehne + Nagel", "KHNN", "ROAD", ("NL", "DE", "ES"), 0.97),
    Carrier(13, "Smith, Jones & Co Haulage", "SJCH", "ROAD", ("GB",), 0.96),
    Carrier(14, "Northern \"Express\" Couriers", None, "PARCEL", ("GB",), 0.955),
)
CARRIER_BY_ID = {c.carrier_id: c for c in CARRIERS}


@dataclass(frozen=True)
class SalesforceUser:
    username: str  # the login: lowercase e-mail style; also the warehouse and QuickSight user name
    name: str
    email: str
    title: str
    department: str
    is_account_manager: bool


ACCOUNT_MANAGERS: tuple[SalesforceUser, ...] = (
    SalesforceUser("amelia.hart@glc.example", "Amelia Hart", "Amelia.Hart@globallogistics.example",
                   "Account Manager", "Sales", True),
    SalesforceUser("james.okafor@glc.example", "James Okafor", "James.Okafor@globallogistics.example",
                   "Account Manager", "Sales", True),
    SalesforceUser("sofia.marin@glc.example", "Sofía Marín", "Sofia.Marin@globallogistics.example",
                   "Senior Account Manager", "Sales", True),
    SalesforceUser("lukas.becker@glc.example", "Lukas Becker", "Lukas.Becker@globallogistics.example",
                   "Account Manager", "Sales", True),
    SalesforceUser("priya.natarajan@glc.example", "Priya Natarajan", "Priya.Natarajan@globallogistics.example",
                   "Account Manager", "Sales", True),
)
OTHER_USERS: tuple[SalesforceUser, ...] = (
    SalesforceUser("daniel.reyes@glc.example", "Daniel Reyes", "Daniel.Reyes@globallogistics.example",
                   "Sales Director", "Sales", False),
    SalesforceUser("hannah.kim@glc.example", "Hannah Kim", "Hannah.Kim@globallogistics.example",
                   "Finance Analyst", "Finance", False),
    SalesforceUser("oliver.grant@glc.example", "Oliver Grant", "Oliver.Grant@globallogistics.example",
                   "Operations Analyst", "Operations", False),
    SalesforceUser("chloe.dubois@glc.example", "Chloé Dubois", "Chloe.Dubois@globallogistics.example",
                   "Chief Operating Officer", "Executive", False),
    SalesforceUser("integration.appflow@glc.example", "Integration User", "it-integrations@globallogistics.example",
                   "Integration User", "IT", False),
)
SALESFORCE_USERS: tuple[SalesforceUser, ...] = (*ACCOUNT_MANAGERS, *OTHER_USERS)

# Client i (1-based ClientId) is owned by ACCOUNT_MANAGERS[(i - 1) % len(ACCOUNT_MANAGERS)] at the start
# of a simulation (an owner can be reassigned later, as in real life).


def initial_account_manager(client_id: int) -> SalesforceUser:
    return ACCOUNT_MANAGERS[(client_id - 1) % len(ACCOUNT_MANAGERS)]


# The first clients of every simulation, in ClientId order (larger scales add generated names).
CLIENT_NAMES: tuple[str, ...] = (
    "Northwind Apparel", "Bluepeak Outdoor", "Lumen Electronics", "Harbor & Finch", "Verdant Foods",
    "Copperleaf Home", "Atlas Auto Parts", "Nimbus Pharma", "Orchid Beauty", "Ironclad Tools",
    "Pebble Toys", "Saffron Kitchen", "Tidewater Marine", "Quill Stationery", "Aurora Wellness",
    "Redwood Furniture", "Silverline Sports", "Kestrel Optics", "Maple & Oak Crafts", "Zephyr Cycles",
    "Granite Hardware", "Juniper Pet Supply", "Coral Swimwear", "Summit Supplements", "Urban Loom",
    "Polar Beverages", "Vesta Appliances", "Echo Audio", "Fable Books", "Crescent Jewellery",
    "Driftwood Decor", "Evergreen Garden", "Falcon Drones", "Glacier Water", "Helix Biotech",
    "Indigo Denim", "Jade Tea", "Koala Baby", "Lark Footwear", "Meridian Medical",
)
CLIENT_NAME_WORDS = (
    ("Amber", "Birch", "Cobalt", "Delta", "Ember", "Fjord", "Garnet", "Hazel", "Ivory", "Jasper",
     "Kite", "Lotus", "Mosaic", "Nova", "Onyx", "Prism", "Quartz", "Raven", "Sable", "Topaz"),
    ("Goods", "Living", "Supply", "Trading", "Brands", "Labs", "Works", "Outfitters", "Market", "Studio"),
)


def client_name(client_id: int) -> str:
    if client_id <= len(CLIENT_NAMES):
        return CLIENT_NAMES[client_id - 1]
    k = client_id - len(CLIENT_NAMES) - 1
    first, second = CLIENT_NAME_WORDS
    name = f"{first[k % len(first)]} {second[(k // len(first)) % len(second)]}"
    rounds = k // (len(first) * len(second))
    return name if rounds == 0 else f"{name} {rounds + 1}"


def client_code(client_id: int) -> str:
    """The WMS ClientCode, equal to Salesforce Account.WMS_Client_Code__c: letters of the name + id."""
    words = [w for w in client_name(client_id).replace("&", " ").split() if w.isalpha()]
    letters = (words[0][:3] + (words[1][:3] if len(words) > 1 else "")).upper()
    return f"{letters}{client_id:03d}"


LEGAL_SUFFIX_BY_COUNTRY = {"GB": "Ltd", "NL": "B.V.", "DE": "GmbH", "ES": "S.L.", "US": "Inc.", "CA": "Corp."}
INDUSTRIES = ("Apparel", "Retail", "Electronics", "Food & Beverage", "Healthcare", "Manufacturing",
              "Consumer Goods", "Sporting Goods")
