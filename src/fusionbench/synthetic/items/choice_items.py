"""Synthetic multiple-choice items: commonsense_qa, openbook_qa, arc_challenge, hellaswag, mmlu and gpqa."""

from __future__ import annotations

import math
import random

from fusionbench.prompts import QueryFields
from fusionbench.synthetic.items._common import ABCD, Item, _distinct, _mc, _num, _person, _pick_other
from fusionbench.synthetic.items.knowledge_items import COUNTRIES

_LOCATIONS = (("toothbrush", "bathroom"), ("frying pan", "kitchen"), ("stapler", "office"), ("pillow", "bedroom"),
              ("lawn mower", "garage"), ("textbook", "classroom"), ("shopping cart", "supermarket"),
              ("life jacket", "boat"), ("stethoscope", "hospital"), ("paintbrush", "art studio"),
              ("suitcase", "closet"), ("dumbbell", "gym"), ("spare tire", "car trunk"), ("tent", "campsite"),
              ("library card", "wallet"), ("seed packet", "garden shed"), ("microscope", "laboratory"),
              ("popcorn bucket", "movie theater"), ("hymn book", "church"), ("chalk", "blackboard ledge"))  # fmt: skip
_PURPOSES = (("shovel", "dig a hole"), ("needle and thread", "mend a shirt"), ("fishing rod", "catch a fish"),
             ("umbrella", "stay dry"), ("alarm clock", "wake up on time"), ("map", "find the way"),
             ("sponge", "clean a spill"), ("ladder", "reach a high shelf"), ("thermometer", "check for a fever"),
             ("calculator", "add up numbers"), ("kettle", "boil water"), ("broom", "sweep the floor"),
             ("flashlight", "see in the dark"), ("passport", "travel abroad"),
             ("hammer", "drive in a nail"))  # fmt: skip
_FEELINGS = (("won the science fair", "proud"), ("lost a favorite scarf", "sad"),
             ("heard a strange noise downstairs at night", "scared"), ("waited two hours for a late bus", "annoyed"),
             ("walked into a surprise birthday party", "delighted"), ("stayed up all night studying", "tired"),
             ("forgot a close friend's name", "embarrassed"), ("was blamed for something unfair", "angry"),
             ("got a puppy for a birthday", "excited"), ("finished a long race", "exhausted"))  # fmt: skip


def _commonsense(rng: random.Random) -> Item:
    p = _person(rng)
    kind = rng.randrange(3)
    if kind == 0:
        obj, place = rng.choice(_LOCATIONS)
        q = f"Where would {p['name']} most likely keep a {obj}?"
        pool = [x for _, x in _LOCATIONS]
    elif kind == 1:
        obj, place = rng.choice(_PURPOSES)
        q = f"{p['name']} grabbed a {obj}. What does {p['name']} most likely want to do?"
        pool = [x for _, x in _PURPOSES]
    else:
        obj, place = rng.choice(_FEELINGS)
        q = f"{p['name']} {obj}. How would {p['name']} most likely feel?"
        pool = [x for _, x in _FEELINGS]
    return _mc("commonsense_qa", q, place, _pick_other(rng, pool, place, 4), rng, labels="ABCDE")


_CATEGORIES = (
    ("is building a simple circuit. Which of these would best conduct electricity?",
     ("a copper wire", "an iron nail", "a steel spoon", "an aluminum can", "a silver coin"),
     ("a rubber eraser", "a wooden ruler", "a plastic cup", "a glass marble", "a cotton sock")),
    ("is testing objects with a magnet. Which of these would the magnet attract?",
     ("an iron paper clip", "a steel nail", "a nickel washer", "a steel key"),
     ("a plastic button", "a copper penny", "a glass bead", "a paper straw", "a wooden block")),
    ("is writing a report on energy. Which of these is a renewable source of energy?",
     ("wind", "sunlight", "flowing water", "geothermal heat"), ("coal", "oil", "natural gas", "uranium")),
    ("is sorting animal cards. Which of these animals is a mammal?",
     ("a dolphin", "a bat", "a whale", "a rabbit", "a horse"),
     ("a shark", "a frog", "a salmon", "an eagle", "a lizard")),
    ("is studying a food web. Which of these makes its own food using sunlight?",
     ("an oak tree", "grass", "algae", "a sunflower"), ("a deer", "a mushroom", "a hawk", "a spider", "a snail")),
    ("is choosing a window cover. Which of these lets the most light pass through?",
     ("clear glass", "plastic wrap", "still water"), ("a brick", "a wooden door", "aluminum foil", "a cardboard box")),
    ("is learning about matter. Which of these is a gas at room temperature?",
     ("oxygen", "carbon dioxide", "helium", "nitrogen"), ("ice", "sand", "milk", "copper", "wax")),
)  # fmt: skip
_INTROS = ("{name}", "For a class project, {name}", "During a science lesson, {name}")


def _category_question(rng: random.Random) -> tuple[str, str, list[str]]:
    stem, yes, no = rng.choice(_CATEGORIES)
    who = rng.choice(_INTROS).format(**_person(rng))
    return f"{who} {stem}", rng.choice(yes), rng.sample(no, 3)


_PROCESSES = (
    ("{name} leaves a glass of water on a sunny windowsill. A few days later the glass is empty. Which process removed the water?",  # noqa: E501
     "evaporation", ("condensation", "freezing", "precipitation")),
    ("{name} sees drops of water forming on the outside of a cold can of juice. Which process causes this?",
     "condensation", ("evaporation", "melting", "sublimation")),
    ("{name} puts a tray of water in the freezer overnight. What change of state happens to the water?",
     "freezing", ("melting", "boiling", "evaporation")),
    ("{name} grows a bean plant on a windowsill. Which process lets the plant make sugar from sunlight?",
     "photosynthesis", ("respiration", "digestion", "decomposition")),
    ("{name} rubs a balloon on {her} hair and the balloon sticks to the wall. Which force holds it there?",
     "static electricity", ("gravity", "magnetism", "friction")),
    ("{name} drops a feather and a rock at the same moment on the Moon, where there is no air. What happens?",
     "They land at the same time.", ("The rock lands first.", "The feather lands first.", "Both float away.")),
    ("{name} finds a fossil of a fish at the top of a hill. What does this most likely show?",
     "The area was once covered by water.", ("Fish once lived on hills.", "Wind carried the fish there.",
                                            "The hill is younger than the rocks around it.")),
    ("{name} measures the temperature of boiling water at sea level. Which reading should {she} expect?",
     "100 degrees Celsius", ("50 degrees Celsius", "0 degrees Celsius", "212 degrees Celsius")),
    ("{name} leaves a metal spoon in a bowl of hot soup, and the handle becomes hot. How did the heat move?",
     "conduction", ("convection", "radiation", "evaporation")),
    ("{name} sees that a plant on a windowsill bends toward the glass. What is this response called?",
     "phototropism", ("gravitropism", "hibernation", "migration")),
    ("{name} notices that the Moon looks different from night to night. What causes the phases of the Moon?",
     "the Moon's position relative to the Earth and the Sun", ("clouds covering part of the Moon",
                                                             "the Earth's shadow", "the Moon changing size")),
    ("{name} sees a rusty bicycle chain. Rust forms when iron reacts with water and which gas?",
     "oxygen", ("nitrogen", "helium", "argon")),
)  # fmt: skip


def _science_question(rng: random.Random) -> tuple[str, str, list[str], tuple[str, ...]]:
    kind = rng.randrange(4)
    if kind == 0:
        vehicle = rng.choice(("train", "bus", "cyclist", "boat", "truck", "car"))
        speed, hours = rng.randint(5, 90), rng.randint(2, 6)
        dist = speed * hours
        q = f"A {vehicle} travels {dist} kilometers in {hours} hours at a constant speed. What is its speed?"
        wrong = [f"{v} km/h" for v in (dist * hours, dist + hours, dist - hours, speed * 2)]
        return q, f"{speed} km/h", _distinct(f"{speed} km/h", wrong, 3), (f"Speed = {dist} / {hours} = {speed} km/h.",)
    if kind == 1:
        material = rng.choice(("wood", "plastic", "stone", "metal", "wax", "clay"))
        dens, vol = rng.choice((0.5, 0.8, 1.5, 2, 2.5, 3, 4, 5, 7, 8)), rng.randrange(2, 41, 2)
        mass = _num(dens * vol)
        q = f"A block of {material} has a mass of {mass} grams and a volume of {vol} cubic centimeters. What is its density?"  # noqa: E501
        right = f"{_num(dens)} g/cm3"
        wrong = [f"{_num(dens * vol * vol)} g/cm3", f"{round(vol / (dens * vol), 2):g} g/cm3",
                 f"{_num(dens * vol + vol)} g/cm3", f"{_num(dens * 2)} g/cm3"]  # fmt: skip
        return (
            q,
            right,
            _distinct(right, wrong, 3),
            (f"Density = mass / volume = {mass} / {vol} = {_num(dens)} g/cm3.",),
        )
    if kind == 2:
        mass, acc = rng.randint(2, 20), rng.randint(2, 10)
        force = mass * acc
        q = f"A net force of {force} newtons acts on a {mass}-kilogram cart. What is the acceleration of the cart?"
        wrong = [f"{v} m/s2" for v in (force * mass, force + mass, force - mass, acc + 1)]
        return q, f"{acc} m/s2", _distinct(f"{acc} m/s2", wrong, 3), (f"a = F / m = {force} / {mass} = {acc} m/s2.",)
    text, right, wrong = rng.choice(_PROCESSES)
    return text.format(**_person(rng)), right, list(wrong), ()


def _openbook(rng: random.Random) -> Item:
    q, right, wrong = _category_question(rng)
    return _mc("openbook_qa", q, right, wrong, rng)


def _arc(rng: random.Random, force_digits: bool) -> Item:
    q, right, wrong, steps = _science_question(rng)
    digits = force_digits or rng.random() < 0.03
    tags = frozenset({"digit_labels"}) if digits else frozenset()
    return _mc("arc_challenge", q, right, wrong, rng, labels="1234" if digits else ABCD, steps=steps, tags=tags)


_ACTIVITIES = (
    ("Making a sandwich", ("lays two slices of bread on a cutting board.", "spreads butter across one slice.",
                           "adds cheese and lettuce on top.", "presses the second slice onto the filling.",
                           "cuts the sandwich diagonally and serves it.")),
    ("Washing a car", ("fills a bucket with soapy water next to the car.", "scrubs the hood with a large sponge.",
                       "rinses the soap away with a garden hose.", "dries the windows with a soft towel.",
                       "steps back to admire the shiny car.")),
    ("Planting a tree", ("digs a wide hole in the yard with a shovel.", "loosens the roots of the young tree.",
                         "sets the tree upright in the hole.", "fills the hole back in with soil.",
                         "waters the base of the tree generously.")),
    ("Painting a fence", ("sands the old boards until they are smooth.", "stirs a can of white paint.",
                          "dips a wide brush into the paint.", "runs the brush along each board in long strokes.",
                          "steps back to check for missed spots.")),
    ("Making tea", ("fills a kettle with water and sets it on the stove.", "places a tea bag in a mug.",
                    "pours the boiling water over the tea bag.", "lets the tea steep for a few minutes.",
                    "removes the bag and stirs in a spoonful of honey.")),
    ("Changing a tire", ("loosens the lug nuts with a wrench.", "raises the car with a jack.",
                         "pulls the flat tire off the wheel hub.", "slides the spare tire into place.",
                         "tightens the lug nuts and lowers the car.")),
    ("Brushing teeth", ("squeezes toothpaste onto a toothbrush.", "brushes the front teeth in small circles.",
                        "moves on to the back teeth.", "spits the foam into the sink.",
                        "rinses the brush under the tap.")),
    ("Folding laundry", ("empties a basket of clean clothes onto the bed.", "shakes out a shirt to smooth it.",
                         "folds the sleeves behind the shirt.", "folds the shirt in half and stacks it.",
                         "carries the neat pile to the dresser.")),
    ("Baking cookies", ("mixes butter and sugar in a large bowl.", "stirs in flour and chocolate chips.",
                        "scoops balls of dough onto a baking tray.", "slides the tray into the hot oven.",
                        "takes the golden cookies out to cool.")),
    ("Playing the guitar", ("sits down and rests the guitar on one knee.", "tunes each string while listening.",
                            "places the fingers on the first chord.", "strums the strings in a steady rhythm.",
                            "sings along as the song picks up.")),
    ("Cleaning windows", ("sprays glass cleaner across the window.", "wipes the glass with a squeegee.",
                          "dries the edges with a paper towel.", "moves the ladder to the next window.",
                          "checks the glass for streaks in the sunlight.")),
    ("Setting up a tent", ("spreads the tent flat on the ground.", "slides the poles through the fabric sleeves.",
                           "raises the tent into a dome shape.", "hammers the stakes into the ground.",
                           "tosses a sleeping bag inside.")),
    ("Wrapping a gift", ("places the box on a sheet of wrapping paper.", "cuts the paper to the right size.",
                         "folds the paper around the box and tapes it.", "tucks in the ends neatly.",
                         "ties a ribbon around the package.")),
    ("Mopping a floor", ("fills a bucket with warm soapy water.", "dips the mop and wrings it out.",
                         "pushes the mop across the kitchen tiles.", "rinses the mop in the bucket again.",
                         "props the door open so the floor can dry.")),
    ("Kayaking", ("carries a kayak down to the edge of the lake.", "climbs into the seat and grabs the paddle.",
                  "pushes off from the shore.", "paddles with smooth strokes across the water.",
                  "glides back to the dock and climbs out.")),
)  # fmt: skip
_SUBJECTS = (("A man", "The man"), ("A woman", "The woman"), ("A young girl", "The girl"), ("A boy", "The boy"),
             ("A teenager", "The teenager"), ("A chef", "The chef"), ("An older man", "He"), ("A lady", "She"),
             ("A student", "The student"), ("A father", "He"), ("A coach", "The coach"),
             ("A person", "The person"))  # fmt: skip


def _hellaswag(rng: random.Random) -> Item:
    label, steps = rng.choice(_ACTIVITIES)
    intro, ref = rng.choice(_SUBJECTS)
    i = rng.randint(1, 4)
    q = f"{label}: {intro} {steps[i - 1]} {ref}"
    others = [s for lab, ss in _ACTIVITIES if lab != label for s in ss]
    wrong = rng.sample(others, 3)
    if i + 2 < len(steps) and rng.random() < 0.5:
        wrong[0] = steps[i + 2]
    return _mc("hellaswag", q, steps[i], wrong, rng)


# ------------------------------------------------------------------------------------------------ MMLU
_HABITS = ("visits {her} grandmother", "plays football with friends", "helps out at the library",
           "takes a painting class", "goes swimming at the lake", "bakes bread for the neighbors",
           "walks the neighbor's dog", "practices the violin")  # fmt: skip
_EVENTS = ("won a writing contest", "broke {her} arm", "moved to a new school", "found a lost kitten",
           "went hiking in the mountains", "started a vegetable garden")  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TOWN_A = ("Ash", "Brook", "Cedar", "Elm", "Fern", "Glen", "Hollow", "Maple", "Oak", "Pine", "River", "Willow")
_TOWN_B = ("field", "ford", "haven", "ridge", "ton", "vale", "wick", "mere")


def _reading_question(rng: random.Random) -> tuple[str, str, list[str]]:
    p = _person(rng)
    town = rng.choice(_TOWN_A) + rng.choice(_TOWN_B)
    day = rng.choice(_DAYS)
    habits = [h.format(**p) for h in rng.sample(_HABITS, 4)]
    events = [e.format(**p) for e in rng.sample(_EVENTS, 4)]
    passage = (f"{p['name']} lives in the town of {town}. Every {day}, {p['she']} {habits[0]}. "
               f"Last summer {p['she']} {events[0]}, and since then {p['she']} has felt more confident.")  # fmt: skip
    if rng.random() < 0.5:
        return f"{passage}\nWhat does {p['name']} do every {day}?", habits[0], habits[1:]
    return f"{passage}\nWhat happened to {p['name']} last summer?", events[0], events[1:]


_COMPOUNDS = (("water", "H2O", 18), ("carbon dioxide", "CO2", 44), ("methane", "CH4", 16), ("ammonia", "NH3", 17),
              ("oxygen gas", "O2", 32), ("sodium chloride", "NaCl", 58.5), ("glucose", "C6H12O6", 180))  # fmt: skip


def _mmlu_subject_question(rng: random.Random) -> tuple[str, str, list[str]]:
    kind = rng.randrange(6)
    if kind == 0:
        a, b, x = rng.randint(2, 9), rng.randint(1, 30), rng.randint(1, 20)
        q = f"What is the value of x if {a}x - {b} = {a * x - b}?"
        return q, str(x), _distinct(str(x), [str(v) for v in (x + 1, x - 1, a * x, x + b, a * x - b)], 3)
    if kind == 1:
        pct, base = rng.choice((5, 10, 15, 20, 25, 30, 40, 45, 60, 75)), 20 * rng.randint(1, 30)
        ans = pct * base // 100
        return (
            f"What is {pct}% of {base}?",
            str(ans),
            _distinct(str(ans), [str(v) for v in (ans * 2, ans + pct, base - ans, ans + 10)], 3),
        )
    if kind == 2:
        m, v = rng.randrange(2, 21, 2), rng.randint(1, 15)
        ans = f"{m * v * v // 2} J"
        q = f"An object with a mass of {m} kg moves at {v} m/s. What is its kinetic energy?"
        return q, ans, _distinct(ans, [f"{x} J" for x in (m * v, m * v * v, m * v // 2, m * v * v * 2)], 3)
    if kind == 3:
        name, formula, molar = rng.choice(_COMPOUNDS)
        n = rng.randint(2, 12)
        ans = f"{_num(n * molar)} g"
        q = f"What is the mass of {n} moles of {name} ({formula})?"
        return q, ans, _distinct(ans, [f"{_num(x)} g" for x in (molar, n + molar, 2 * n * molar, n * molar / 2)], 3)
    if kind == 4:
        v = rng.randint(5, 255)
        wrong = (v + 1, v - 1, 2 * v, int(bin(v)[2:][::-1], 2))
        return (
            f"What is the decimal value of the binary number {bin(v)[2:]}?",
            str(v),
            _distinct(str(v), [str(x) for x in wrong], 3),
        )
    country, capital, *_ = rng.choice(COUNTRIES)
    return f"What is the capital of {country}?", capital, _pick_other(rng, [c[1] for c in COUNTRIES], capital, 3)


def _mmlu(rng: random.Random, split: str) -> Item:
    if split == "train":  # the release's MMLU "train" items come from auxiliary_train: ARC/OBQA/RACE-style
        kind = rng.randrange(3)
        if kind == 0:
            q, right, wrong, _ = _science_question(rng)
        elif kind == 1:
            q, right, wrong = _category_question(rng)
        else:
            q, right, wrong = _reading_question(rng)
        return _mc("mmlu", q, right, wrong, rng, tags=frozenset({"auxiliary_train"}))
    q, right, wrong = _mmlu_subject_question(rng)
    return _mc("mmlu", q, right, wrong, rng)


def _gpqa_question(rng: random.Random) -> tuple[str, str, list[str]]:
    kind = rng.randrange(5)
    if kind == 0:
        energy = rng.randint(12, 60) / 10
        wavelength = round(1240 / energy, 1)
        q = (f"A photon has a wavelength of {wavelength:g} nm. Approximately what is its energy? "
             "Use hc = 1240 eV nm.")  # fmt: skip
        vals = [f"{energy:.2f} eV", f"{2 * energy:.2f} eV", f"{energy / 2:.2f} eV", f"{energy + 1.5:.2f} eV"]
    elif kind == 1:
        half, n = rng.randint(2, 90), rng.randint(2, 6)
        q = f"A radioactive isotope has a half-life of {half} years. What fraction of a pure sample remains after {half * n} years?"  # noqa: E501
        vals = [f"1/{2**n}", f"1/{2 ** (n + 1)}", f"1/{2 ** (n - 1)}", f"1/{2 * n}"]
    elif kind == 2:
        exp, mant = rng.randint(2, 6), rng.choice((1, 2, 5))
        ph = exp - math.log10(mant)
        q = f"What is the pH of a {mant}.0 x 10^-{exp} M aqueous solution of a strong monoprotic acid at 25 C?"
        vals = [f"{ph:.2f}", f"{ph + 1:.2f}", f"{14 - ph:.2f}", f"{exp + math.log10(mant):.2f}"]
    elif kind == 3:
        n = rng.randint(2, 9)
        q = f"Ignoring spin, what is the degeneracy of the n = {n} energy level of the hydrogen atom?"
        vals = [str(n * n), str(2 * n * n), str(n), str(2 * n + 1)]
    else:
        total = 4 * rng.randint(10, 250)
        q = f"Two heterozygous parents (Aa x Aa) have {total} offspring. How many are expected to show the recessive phenotype?"  # noqa: E501
        vals = [str(total // 4), str(total // 2), str(3 * total // 4), str(total // 8)]
    if len(set(vals)) < 4:
        raise ValueError("duplicate options")
    return q, vals[0], vals[1:4]


def _gpqa(rng: random.Random) -> Item:
    """GPQA with the release's option shuffle, whose stored letter is wrong for half of the orders."""
    q, right, wrong = _gpqa_question(rng)
    options = [right, *wrong]
    mapping = list(range(4))
    rng.shuffle(mapping)
    shuffled = [options[mapping.index(i)] for i in range(4)]
    gold = ABCD[mapping.index(0)]  # the release's letter
    true = ABCD[shuffled.index(right)]
    fields = QueryFields(q, choices=shuffled, choice_labels=list(ABCD))
    tags = frozenset({"gpqa_label_wrong"}) if gold != true else frozenset()
    return Item("gpqa", fields, gold, true, tuple(x for x in ABCD if x != true), tags=tags)
