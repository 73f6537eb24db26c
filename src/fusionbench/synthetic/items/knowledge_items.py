"""Synthetic open-answer and reading items: natural_qa, trivia_qa (world facts), squad and boolq (fictional firms)."""

from __future__ import annotations

import random

from fusionbench.metrics.qa import normalize_answer
from fusionbench.prompts import QueryFields
from fusionbench.synthetic.items._common import _PEOPLE, _SURNAMES, Item, _pick_other

# --------------------------------------------------------------------------------------- world facts
COUNTRIES = (
    ("France", "Paris", "euro", "Europe"), ("Japan", "Tokyo", "Japanese yen", "Asia"),
    ("Peru", "Lima", "Peruvian sol", "South America"), ("Kenya", "Nairobi", "Kenyan shilling", "Africa"),
    ("Canada", "Ottawa", "Canadian dollar", "North America"), ("Australia", "Canberra", "Australian dollar", "Oceania"),
    ("Egypt", "Cairo", "Egyptian pound", "Africa"), ("Norway", "Oslo", "Norwegian krone", "Europe"),
    ("Brazil", "Brasilia", "Brazilian real", "South America"), ("India", "New Delhi", "Indian rupee", "Asia"),
    ("Mexico", "Mexico City", "Mexican peso", "North America"), ("Thailand", "Bangkok", "Thai baht", "Asia"),
    ("Poland", "Warsaw", "Polish zloty", "Europe"), ("Chile", "Santiago", "Chilean peso", "South America"),
    ("Morocco", "Rabat", "Moroccan dirham", "Africa"), ("Vietnam", "Hanoi", "Vietnamese dong", "Asia"),
    ("Sweden", "Stockholm", "Swedish krona", "Europe"),
    ("Argentina", "Buenos Aires", "Argentine peso", "South America"),
    ("Nigeria", "Abuja", "Nigerian naira", "Africa"), ("Iceland", "Reykjavik", "Icelandic krona", "Europe"),
    ("Hungary", "Budapest", "Hungarian forint", "Europe"), ("South Korea", "Seoul", "South Korean won", "Asia"),
    ("Ghana", "Accra", "Ghanaian cedi", "Africa"), ("New Zealand", "Wellington", "New Zealand dollar", "Oceania"),
    ("Colombia", "Bogota", "Colombian peso", "South America"), ("Indonesia", "Jakarta", "Indonesian rupiah", "Asia"),
    ("Ethiopia", "Addis Ababa", "Ethiopian birr", "Africa"), ("Czech Republic", "Prague", "Czech koruna", "Europe"),
    ("Philippines", "Manila", "Philippine peso", "Asia"), ("Cuba", "Havana", "Cuban peso", "North America"),
)  # fmt: skip
_ELEMENTS = (("hydrogen", "H", 1), ("helium", "He", 2), ("carbon", "C", 6), ("nitrogen", "N", 7), ("oxygen", "O", 8),
             ("sodium", "Na", 11), ("magnesium", "Mg", 12), ("aluminium", "Al", 13), ("silicon", "Si", 14),
             ("phosphorus", "P", 15), ("sulfur", "S", 16), ("chlorine", "Cl", 17), ("potassium", "K", 19),
             ("calcium", "Ca", 20), ("iron", "Fe", 26), ("copper", "Cu", 29), ("zinc", "Zn", 30), ("silver", "Ag", 47),
             ("tin", "Sn", 50), ("iodine", "I", 53), ("gold", "Au", 79), ("mercury", "Hg", 80), ("lead", "Pb", 82),
             ("uranium", "U", 92))  # fmt: skip
_PLANETS = ("Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune")
_UNITS = (("hours", "minutes", 60), ("minutes", "seconds", 60), ("weeks", "days", 7), ("years", "months", 12),
          ("kilograms", "grams", 1000), ("meters", "centimeters", 100), ("days", "hours", 24))  # fmt: skip
_ORD = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


def _world_fact(rng: random.Random, trivia: bool) -> tuple[str, str, list[str]]:
    """(question, answer, wrong answers); lower-case search-query style for NQ, quiz style for TriviaQA."""
    kind = rng.randrange(8)
    if kind < 4:  # unit conversions: a large space of distinct questions
        big, small, factor = rng.choice(_UNITS)
        n = rng.randint(2, 99)
        ans = n * factor
        q = f"How many {small} are there in {n} {big}?" if trivia else f"how many {small} are in {n} {big}"
        return q, str(ans), [str(ans + factor), str(ans - factor), str(n + factor)]
    if kind == 4:
        country, capital, *_ = rng.choice(COUNTRIES)
        q = f"Which city is the capital of {country}?" if trivia else f"what is the capital city of {country}"
        return q, capital, _pick_other(rng, [c[1] for c in COUNTRIES], capital, 3)
    if kind == 5:
        country, _, currency, continent = rng.choice([c for c in COUNTRIES if c[2] != "euro"])
        if trivia:
            q = f"The {currency} is the official currency of which country?"
            return q, country, _pick_other(rng, [c[0] for c in COUNTRIES], country, 3)
        return (
            f"{country.lower()} is located on which continent",
            continent,
            _pick_other(rng, [c[3] for c in COUNTRIES], continent, 3),
        )
    if kind == 6:
        element, symbol, number = rng.choice(_ELEMENTS)
        if trivia:
            q = f"Which chemical element has the symbol {symbol}?"
            return (
                q,
                element.capitalize(),
                [e.capitalize() for e in _pick_other(rng, [e[0] for e in _ELEMENTS], element, 3)],
            )
        if rng.random() < 0.5:
            return (
                f"what is the chemical symbol for {element}",
                symbol,
                _pick_other(rng, [e[1] for e in _ELEMENTS], symbol, 3),
            )
        return (
            f"what is the atomic number of {element}",
            str(number),
            [str(number + 1), str(number * 2), str(number + 8)],
        )
    k = rng.randrange(8)
    q = f"What is the {_ORD[k]} planet from the Sun?" if trivia else f"which planet is {_ORD[k]} from the sun"
    return q, _PLANETS[k], _pick_other(rng, _PLANETS, _PLANETS[k], 3)


def _open_qa(task: str, rng: random.Random) -> Item:
    trivia = task == "trivia_qa"
    q, ans, wrong = _world_fact(rng, trivia)
    q = q if trivia else q.lower()  # NQ questions read like lower-case search queries
    gold = normalize_answer(ans) if trivia else ans  # TriviaQA gold is the first normalised alias
    return Item(task, QueryFields(q), gold, ans, tuple(wrong))


# ----------------------------------------------------------------------------------------- reading
_ORG_A = ("Val", "Kel", "Dor", "Mar", "Tal", "Bren", "Cor", "Fen", "Lum", "Ros", "Sar", "Vin", "Ash", "Gal", "Hol",
          "Nor")  # fmt: skip
_ORG_B = ("mora", "trin", "ven", "ista", "ford", "well", "dale", "wick", "ara", "ton", "ley", "mere")
_KINDS = {"Instruments": ("precision barometers", "surveying telescopes"), "Foods": ("canned soups", "rye crackers"),
          "Textiles": ("wool blankets", "linen shirts"), "Motors": ("electric scooters", "tractor engines"),
          "Publishing": ("travel guides", "children's atlases"), "Robotics": ("warehouse robots", "robotic arms"),
          "Pharmaceuticals": ("cough syrups", "allergy tablets"),
          "Shipping": ("river ferries", "cargo barges")}  # fmt: skip
_CITY_A = ("North", "Port", "East", "Lake", "New", "Old", "West", "Upper")
_CITY_B = ("Ashby", "Brennock", "Calder", "Dunmore", "Elston", "Farrow", "Glenhaven", "Harlow")


def _company(rng: random.Random) -> dict[str, object]:
    kind = rng.choice(sorted(_KINDS))
    cities = rng.sample([f"{a} {b}" for a in _CITY_A for b in _CITY_B], 3)
    founders = [f"{rng.choice(_PEOPLE)[0]} {s}" for s in rng.sample(_SURNAMES, 2)]
    year = rng.randint(1850, 1990)
    c = {"org": f"{rng.choice(_ORG_A)}{rng.choice(_ORG_B)} {kind}", "kind": kind.lower(), "year": year,
         "founder": founders[0], "other_founder": founders[1], "city": cities[0], "city2": cities[1],
         "other_city": cities[2], "product": _KINDS[kind][0], "other_product": _KINDS[kind][1],
         "year2": year + rng.randint(10, 30), "staff": 50 * rng.randint(2, 160)}  # fmt: skip
    article = "an" if c["kind"][0] in "aeiou" else "a"
    c["passage"] = (f"{c['org']} is {article} {c['kind']} company founded in {year} by {c['founder']} in {c['city']}. "
                    f"It is best known for its {c['product']}. By {c['year2']} the company employed about "
                    f"{c['staff']:,} people, and it later moved its headquarters to {c['city2']}.")  # fmt: skip
    return c


def _squad(rng: random.Random) -> Item:
    c = _company(rng)
    org = c["org"]
    qs = (
        (f"Who founded {org}?", c["founder"], (c["other_founder"], c["city"])),
        (f"In what year was {org} founded?", str(c["year"]), (str(c["year2"]), str(c["year"] + 1))),
        (f"In which city was {org} founded?", c["city"], (c["city2"], c["other_city"])),
        (f"What is {org} best known for?", c["product"], (c["other_product"], c["kind"] + " goods")),
        (f"Where did {org} move its headquarters?", c["city2"], (c["city"], c["other_city"])),
        (
            f"About how many people did {org} employ by {c['year2']}?",
            f"{c['staff']:,}",
            (f"{c['staff'] * 2:,}", str(c["year2"])),
        ),
    )
    q, ans, wrong = rng.choice(qs)
    return Item("squad", QueryFields(q, context=c["passage"]), ans, ans, tuple(wrong))


def _boolq(rng: random.Random, force_true: bool) -> Item:
    c = _company(rng)
    org = c["org"].lower()
    truth = force_true or rng.random() < 0.6
    kind = rng.randrange(4)
    if kind == 0:
        q = f"was {org} founded by {(c['founder'] if truth else c['other_founder']).lower()}"
    elif kind == 1:
        year = c["year"] + (rng.randint(1, 20) if truth else -rng.randint(1, 20))
        q = f"was {org} founded before {year}"
    elif kind == 2:
        q = f"is {org} best known for its {c['product'] if truth else c['other_product']}"
    else:
        q = f"did {org} move its headquarters to {(c['city2'] if truth else c['other_city']).lower()}"
    gold = str(truth)
    tags = frozenset({"untrue"}) if force_true else frozenset()
    return Item("boolq", QueryFields(q, context=c["passage"]), gold, gold, (str(not truth),), tags=tags)
