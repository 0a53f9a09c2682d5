"""The world as it stands when the simulation starts: clients, SKUs, stock, Salesforce, carriers.

Everything here predates the first simulated day (created and last modified in the past), so the DMS
full load and AppFlow's first (full) pull deliver it.
"""

from __future__ import annotations

import random
from datetime import timedelta

from unify.simulate import reference as ref
from unify.simulate.encode import US_PER_DAY, US_PER_SECOND, day_start_us
from unify.simulate.names import product_description, salesforce_id
from unify.simulate.params import Params
from unify.simulate.state import Client, World

PAST_DAYS = 5 * 365  # creation times are drawn from the five years before the start


def build_world(params: Params) -> World:
    world = World(params)
    rng = random.Random(f"{params.seed}:world")
    start = day_start_us(params.first_day)
    world.counters = {"order": 5_000_000, "line": 20_000_000, "product": 1000, "shipment": 700_000_000,
                      "tracking_event": 9_000_000_000, "seq": 0, "event": 0, "sf_User": 3_000,
                      "sf_Account": 41_000, "sf_Contract": 77_000, "contract_number": 100,
                      "appflow_execution": 0}

    def past(min_days: float, max_days: float) -> int:
        """A whole-second time between max_days and min_days before the start."""
        us = start - int(rng.uniform(min_days, max_days) * US_PER_DAY)
        return us - us % US_PER_SECOND

    world.carriers = [[c.carrier_id, c.name, c.scac, c.mode, past(30, 900)] for c in ref.CARRIERS]
    _build_clients(world, rng, past)
    _build_products(world, rng, past)
    _build_salesforce(world, rng, past)
    return world


def _build_clients(world: World, rng: random.Random, past) -> None:
    for cid in range(1, world.params.band.clients + 1):
        primary = ((cid - 1) * 3) % len(ref.WAREHOUSES) + 1
        warehouses = [primary]
        if rng.random() < 0.3:  # a second site in the same country group
            country = ref.WAREHOUSE_BY_ID[primary].country
            region = ("GB",) if country == "GB" else ("US", "CA") if country in ("US", "CA") else ("NL", "DE", "ES")
            options = [w.warehouse_id for w in ref.WAREHOUSES if w.country in region and w.warehouse_id != primary]
            if options:
                warehouses.append(rng.choice(options))
        world.clients[cid] = Client(
            client_id=cid, code=ref.client_code(cid), name=ref.client_name(cid), modified=past(60, PAST_DAYS),
            weight=round(min(2.0, max(0.5, rng.lognormvariate(0.0, 0.45))), 4),
            b2b_share=round(rng.uniform(0.5, 0.9) if cid % 7 == 4 else rng.uniform(0.0, 0.3), 4),
            short_rate=round(rng.uniform(0.002, 0.008), 5),
            late_rate=round(rng.uniform(0.01, 0.05), 5),
            carrier_penalty=round(rng.uniform(0.0, 0.02), 5),
            warehouses=warehouses,
            account_id=salesforce_id("Account", world.next_id("sf_Account")),
        )


def new_product(world: World, rng: random.Random, client: Client, modified: int) -> list:
    pid = world.next_id("product")
    heavy = client.b2b_share > 0.5
    weight_g = int(rng.uniform(800, 25_000) if heavy else rng.uniform(60, 6_000))
    volume = int(rng.uniform(40, 2_500) if heavy else rng.uniform(3, 600))  # m3 scaled by 10^4
    roll = rng.random()
    hazmat = "3" if roll < 0.03 else "9" if roll < 0.05 else "2.1" if roll < 0.06 else None
    sku = f"{client.code[:3]}-{pid:06d}"
    row = [pid, client.client_id, sku, product_description(rng), weight_g, volume, hazmat, modified]
    world.products[pid] = row
    return row


def _build_products(world: World, rng: random.Random, past) -> None:
    for client in world.clients.values():
        world.client_products[client.client_id] = []
        for _ in range(world.params.band.skus_per_client):
            row = new_product(world, rng, client, past(10, 1500))
            world.client_products[client.client_id].append(row[0])
            for wh in client.warehouses:
                target = int(rng.uniform(300, 3000) * (4 if client.b2b_share > 0.5 else 1))
                on_hand = int(target * rng.uniform(0.5, 1.0))
                world.inventory[(wh, row[0])] = [on_hand, 0, past(0.01, 20), target]


def _sf_times(rng: random.Random, past, oldest: float, newest: float) -> tuple[int, int, int]:
    """CreatedDate between `oldest` and `newest` days before the start; last modified after it, still
    `newest` days before the start at the latest; SystemModstamp = LastModifiedDate."""
    created = past(newest, oldest)
    latest = past(newest, newest)
    modified = created + int(rng.random() * max(0, latest - created))
    modified -= modified % US_PER_SECOND
    return created, modified, modified


def _build_salesforce(world: World, rng: random.Random, past) -> None:
    sf = world.salesforce
    start_day = world.params.first_day
    am_ids: list[str] = []
    for user in ref.SALESFORCE_USERS:
        uid = salesforce_id("User", world.next_id("sf_User"))
        created, modified, stamp = _sf_times(rng, past, 1800, 30)
        sf["User"][uid] = [uid, False, created, modified, stamp, user.name, user.email, user.username,
                           user.title, user.department, True]
        if user.is_account_manager:
            am_ids.append(uid)
    ranked = sorted(world.clients.values(), key=lambda c: (-c.weight, c.client_id))
    tiers = {c.client_id: ("Gold" if i < len(ranked) // 4 else "Silver" if i < len(ranked) * 2 // 3 else "Bronze")
             for i, c in enumerate(ranked)}
    for client in world.clients.values():
        country = ref.WAREHOUSE_BY_ID[client.warehouses[0]].country
        currency = ref.CONTRACT_CURRENCY_BY_COUNTRY[country]
        created, modified, stamp = _sf_times(rng, past, 1600, 40)
        owner = am_ids[(client.client_id - 1) % len(am_ids)]
        sf["Account"][client.account_id] = [
            client.account_id, False, created, modified, stamp,
            f"{client.name} {ref.LEGAL_SUFFIX_BY_COUNTRY[country]}", "Customer", rng.choice(ref.INDUSTRIES),
            ref.COUNTRY_NAMES[country], owner, client.code, tiers[client.client_id], currency]
        _build_contracts(world, rng, past, client.account_id, currency, start_day)
    for _ in range(max(3, len(world.clients) // 4)):
        add_prospect(world, rng, *_sf_times(rng, past, 400, 5))


def add_prospect(world: World, rng: random.Random, created: int, modified: int, stamp: int) -> str:
    users = world.salesforce["User"]
    am_ids = [uid for uid, row in users.items() if row[8] in ("Account Manager", "Senior Account Manager")]
    country = rng.choice(("GB", "NL", "DE", "ES", "US", "CA"))
    aid = salesforce_id("Account", world.next_id("sf_Account"))
    name = f"{ref.client_name(rng.randrange(41, 240))} {ref.LEGAL_SUFFIX_BY_COUNTRY[country]}"
    world.salesforce["Account"][aid] = [aid, False, created, modified, stamp, name, "Prospect",
                                        rng.choice(ref.INDUSTRIES), ref.COUNTRY_NAMES[country],
                                        rng.choice(am_ids), None, None, ref.CONTRACT_CURRENCY_BY_COUNTRY[country]]
    return aid


def _build_contracts(world: World, rng: random.Random, past, account_id: str, currency: str, start_day) -> None:
    """The account's Activated contract covering the simulation, sometimes an Expired predecessor and a
    Draft renewal (distractors for "the Activated contract whose dates cover the ship date")."""
    contracts = world.salesforce["Contract"]
    begin = (start_day - timedelta(days=rng.randrange(45, 700))).replace(day=1)
    end = begin.replace(year=begin.year + 3) - timedelta(days=1)
    rates = [int(rng.uniform(180, 550)), int(rng.uniform(1_800, 7_500)), int(rng.uniform(400, 2_200)),
             rng.choice((9_200, 9_500, 9_700, 9_850))]

    def add(status: str, first, last, rate_values: list[int], created_days_ago: float) -> None:
        cid = salesforce_id("Contract", world.next_id("sf_Contract"))
        created, modified, stamp = _sf_times(rng, past, created_days_ago, min(created_days_ago, 20) * 0.5)
        contracts[cid] = [cid, False, created, modified, stamp, account_id,
                          f"{world.next_id('contract_number'):08d}", status, first.toordinal(), last.toordinal(),
                          *rate_values, currency]

    begin_days_ago = (start_day - begin).days
    if rng.random() < 0.5:
        old_begin = begin.replace(year=begin.year - 2)
        old_rates = [int(rates[0] * 0.95), int(rates[1] * 0.95), rates[2], rates[3]]
        add("Expired", old_begin, begin - timedelta(days=1), old_rates, begin_days_ago + 760)
    add("Activated", begin, end, rates, begin_days_ago + 30)
    if rng.random() < 0.3 or len(contracts) < 4:
        renewal = [int(rates[0] * 1.04), int(rates[1] * 1.04), rates[2], rates[3]]
        renewal_begin = end + timedelta(days=1)  # the 1st of a month
        add("Draft", renewal_begin, renewal_begin.replace(year=renewal_begin.year + 3) - timedelta(days=1), renewal, 25)
