"""Question, answer and code tables behind :mod:`fusionbench.synthetic`. All content here is synthetic.

Every item is built from a template with a computed answer, or from invented facts (fictional
companies, towns and people) plus a few well-known world facts (capitals, chemical symbols).
Nothing is copied from the real benchmarks. :func:`make_item` builds one deterministic item for a
task from a seeded :class:`random.Random`.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from fusionbench.prompts import QueryFields

ABCD = ("A", "B", "C", "D")


@dataclass
class Item:
    """One synthetic query: what the template renders, the release's gold, and material for responses.

    ``answer`` is what a model that knows the answer says (a number, LaTeX, an option label, a span,
    True/False; for GPQA the truly correct letter, which the release's shuffle bug may not store as
    gold); ``wrong`` holds plausible wrong answers in the same form. Code tasks carry a correct
    solution (``code``: a full ``def`` for MBPP, a function body for HumanEval) and failing variants.
    """

    task: str
    fields: QueryFields
    ground_truth: str
    answer: str
    wrong: tuple[str, ...]
    steps: tuple[str, ...] = ()
    task_id: str = ""
    code: str = ""
    wrong_code: tuple[str, ...] = ()
    tags: frozenset[str] = frozenset()
    difficulty: float = 0.0


# ---------------------------------------------------------------------------------------------- people
_PEOPLE = (
    ("Maya", "she"), ("Liam", "he"), ("Priya", "she"), ("Tomas", "he"), ("Aisha", "she"), ("Kenji", "he"),
    ("Elena", "she"), ("Omar", "he"), ("Sofia", "she"), ("Mateo", "he"), ("Hana", "she"), ("Diego", "he"),
    ("Nora", "she"), ("Felix", "he"), ("Zara", "she"), ("Ravi", "he"), ("Ines", "she"), ("Jonas", "he"),
    ("Leila", "she"), ("Caleb", "he"), ("Mei", "she"), ("Arjun", "he"), ("Clara", "she"), ("Theo", "he"),
)  # fmt: skip
_SURNAMES = ("Halvorsen", "Okafor", "Brandt", "Castellano", "Nakamura", "Whitlock", "Moreau", "Adeyemi", "Lindqvist",
             "Petrov", "Quinlan", "Serrano")  # fmt: skip
_HER = {"she": "her", "he": "his"}


def _person(rng: random.Random) -> dict[str, str]:
    name, she = rng.choice(_PEOPLE)
    return {"name": name, "she": she, "her": _HER[she], "She": she.capitalize()}


def _pick_other(rng: random.Random, pool: Sequence[str], exclude: str, k: int) -> list[str]:
    return rng.sample([p for p in dict.fromkeys(pool) if p != exclude], k)


def _distinct(correct: str, candidates: Sequence[str], k: int) -> list[str]:
    out = [c for c in dict.fromkeys(candidates) if c != correct]
    if len(out) < k:
        raise ValueError("not enough distinct distractors")
    return out[:k]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# ---------------------------------------------------------------------------------------------- gsm8k
def _gsm8k(rng: random.Random, force_decimal: bool) -> Item:
    p = _person(rng)
    name, she = p["name"], p["she"]
    kind = (
        "decimal" if force_decimal or rng.random() < 0.03 else rng.choice(("change", "give", "boxes", "wage", "pages"))
    )
    if kind == "change":
        things = rng.choice(("notebooks", "pens", "candles", "stickers", "mugs", "plants"))
        n, price = rng.randint(2, 9), rng.randint(2, 15)
        cost = n * price
        bill = next(b for b in (20, 50, 100, 200) if b > cost)
        ans = bill - cost
        q = f"{name} buys {n} {things} for ${price} each and pays with a ${bill} bill. How many dollars of change does {she} get back?"  # noqa: E501
        steps = (f"The {things} cost {n} * {price} = <<{n}*{price}={cost}>>{cost} dollars.",
                 f"{name} gets back {bill} - {cost} = <<{bill}-{cost}={ans}>>{ans} dollars.")  # fmt: skip
        wrong = [cost, ans + price, bill - n - price, ans - price]
    elif kind == "give":
        things = rng.choice(("marbles", "cards", "shells", "stamps", "beads"))
        a = rng.randint(20, 95)
        b, c = rng.randint(3, a - 5), rng.randint(3, 40)
        friend = rng.choice([x for x, _ in _PEOPLE if x != name])
        ans = a - b + c
        q = f"{name} has {a} {things}. {p['She']} gives {b} of them to {friend} and then buys {c} more. How many {things} does {name} have now?"  # noqa: E501
        steps = (f"After giving some away, {name} has {a} - {b} = <<{a}-{b}={a - b}>>{a - b} {things}.",
                 f"After buying more, {she} has {a - b} + {c} = <<{a - b}+{c}={ans}>>{ans} {things}.")  # fmt: skip
        wrong = [a - b, a + b + c, a - b - c, ans + 1]
    elif kind == "boxes":
        things = rng.choice(("cupcakes", "oranges", "pencils", "tiles", "cookies"))
        k, n = rng.randint(3, 12), rng.randint(6, 24)
        u = rng.randint(2, k * n - 2)
        ans = k * n - u
        q = f"{name} fills {k} boxes with {n} {things} each. {p['She']} then uses {u} of the {things}. How many {things} are left?"  # noqa: E501
        steps = (f"There are {k} * {n} = <<{k}*{n}={k * n}>>{k * n} {things} in total.",
                 f"After using {u}, there are {k * n} - {u} = <<{k * n}-{u}={ans}>>{ans} left.")  # fmt: skip
        wrong = [k * n, k * n + u, k * (n - 1) - u, ans + n]
    elif kind == "wage":
        w, h, k = rng.randint(9, 32), rng.randint(10, 40), rng.randint(2, 6)
        ans = w * h * k
        q = f"{name} earns ${w} an hour and works {h} hours each week. How many dollars does {she} earn in {k} weeks?"
        steps = (f"Each week {name} earns {w} * {h} = <<{w}*{h}={w * h}>>{w * h} dollars.",
                 f"In {k} weeks {she} earns {w * h} * {k} = <<{w * h}*{k}={ans}>>{ans} dollars.")  # fmt: skip
        wrong = [w * h, w * h + k, w * (h + k), ans - w]
    elif kind == "pages":
        r, d = rng.randint(8, 30), rng.randint(3, 9)
        total = rng.randint(r * d + 10, r * d + 300)
        ans = total - r * d
        q = f"A book has {total} pages. {name} reads {r} pages every day for {d} days. How many pages does {she} still have to read?"  # noqa: E501
        steps = (f"{name} reads {r} * {d} = <<{r}*{d}={r * d}>>{r * d} pages.",
                 f"{p['She']} still has {total} - {r * d} = <<{total}-{r * d}={ans}>>{ans} pages to read.")  # fmt: skip
        wrong = [r * d, total - r - d, total - r * (d - 1), ans + r]
    else:  # an answer with a decimal point: the release's rule compares "18.5" as "185"
        length = rng.randrange(11, 99, 2)
        ans = length / 2
        q = f"{name} cuts a {length}-meter rope into 2 pieces of equal length. How many meters long is each piece?"
        steps = (f"Each piece is {length} / 2 = <<{length}/2={_num(ans)}>>{_num(ans)} meters long.",)
        wrong = [length * 2, (length + 1) // 2, length - 2, length // 2]
    wrong_s = _distinct(_num(ans), [_num(w) for w in wrong if w > 0], 3)
    gold = "\n".join(steps) + f"\n#### {_num(ans)}"
    tags = frozenset({"decimal"}) if kind == "decimal" else frozenset()
    return Item("gsm8k", QueryFields(q), gold, _num(ans), tuple(wrong_s), steps=steps, tags=tags)


# ---------------------------------------------------------------------------------------------- math
def frac_latex(f: Fraction) -> str:
    """A fraction as the MATH dataset writes it: ``\\frac{3}{4}``, ``-\\frac{1}{2}`` or ``7``."""
    if f.denominator == 1:
        return str(f.numerator)
    return f"{'-' if f < 0 else ''}\\frac{{{abs(f.numerator)}}}{{{f.denominator}}}"


def _math(rng: random.Random) -> Item:
    kind = rng.choice(("linear", "gcd", "binom", "remainder", "quadratic", "probability", "series"))
    if kind == "linear":
        a, b, c = rng.randint(2, 12), rng.choice([i for i in range(-20, 21) if i]), rng.randint(-30, 60)
        ans = Fraction(c - b, a)
        q = f"Solve for $x$: ${a}x {'+' if b > 0 else '-'} {abs(b)} = {c}$."
        verb = f"Subtracting ${b}$ from" if b > 0 else f"Adding ${-b}$ to"
        step = (
            f"{verb} both sides gives ${a}x = {c - b}$, and dividing both sides by ${a}$ gives $x = {frac_latex(ans)}$."
        )
        wrong = [Fraction(c + b, a), Fraction(c, a) - b, ans + 1, Fraction(a, c - b) if c != b else ans - 1]
    elif kind == "gcd":
        g, m, n = rng.randint(2, 15), rng.randint(2, 20), rng.randint(2, 20)
        x, y = g * m, g * n
        if x == y:
            y += g
        ans = Fraction(math.gcd(x, y))
        q = f"What is the greatest common divisor of ${x}$ and ${y}$?"
        step = f"We have ${x} = {ans} \\cdot {x // ans}$ and ${y} = {ans} \\cdot {y // ans}$, and those cofactors share no common factor."  # noqa: E501
        wrong = [ans * 2, max(Fraction(1), ans / 2), Fraction(math.lcm(x, y)), Fraction(g + 1)]
    elif kind == "binom":
        n, k = rng.randint(6, 20), rng.randint(2, 5)
        ans = Fraction(math.comb(n, k))
        q = f"Compute $\\dbinom{{{n}}}{{{k}}}$."
        step = f"$\\dbinom{{{n}}}{{{k}}} = \\dfrac{{{n}!}}{{{k}!\\,{n - k}!}}$."
        wrong = [Fraction(math.comb(n, k - 1)), Fraction(math.perm(n, k)), Fraction(math.comb(n - 1, k))]
    elif kind == "remainder":
        x, m = rng.randint(100, 9999), rng.randint(3, 19)
        ans = Fraction(x % m)
        q = f"What is the remainder when ${x}$ is divided by ${m}$?"
        step = f"Since ${x} = {m} \\cdot {x // m} + {x % m}$, the remainder is ${x % m}$."
        wrong = [Fraction((x + 1) % m), Fraction(m - x % m), Fraction(x // m % m), ans + m]
    elif kind == "quadratic":
        a, b, c, k = rng.randint(1, 9), rng.randint(-9, 9), rng.randint(-20, 20), rng.randint(-6, 6)
        ans = Fraction(a * k * k + b * k + c)
        bx = f" {'+' if b >= 0 else '-'} {abs(b)}x" if b else ""
        q = f"If $f(x) = {a}x^2{bx} {'+' if c >= 0 else '-'} {abs(c)}$, what is the value of $f({k})$?"
        step = f"Substituting $x = {k}$ gives $f({k}) = {a}({k})^2 + ({b})({k}) + ({c})$."
        wrong = [Fraction(2 * a * k + b * k + c), ans - 2 * b * k, ans + c, Fraction(a * k * k - b * k - c)]
    elif kind == "probability":
        red, blue = rng.randint(2, 15), rng.randint(2, 15)
        ans = Fraction(red, red + blue)
        q = (f"A bag contains {red} red marbles and {blue} blue marbles. One marble is drawn at random. "
             "What is the probability that it is red? Express your answer as a common fraction.")  # fmt: skip
        step = f"There are ${red} + {blue} = {red + blue}$ marbles, and ${red}$ of them are red."
        wrong = [
            Fraction(blue, red + blue),
            Fraction(red, blue),
            Fraction(1, red + blue),
            Fraction(red, red + blue + 1),
        ]
    else:
        k, limit = rng.randint(2, 9), rng.randint(30, 200)
        m = (limit - 1) // k
        ans = Fraction(k * m * (m + 1) // 2)
        q = f"What is the sum of all positive multiples of ${k}$ that are less than ${limit}$?"
        step = f"The multiples are ${k}, {2 * k}, \\ldots, {k * m}$, so the sum is ${k} \\cdot \\dfrac{{{m} \\cdot {m + 1}}}{{2}}$."  # noqa: E501
        wrong = [Fraction(k * (m + 1) * (m + 2) // 2), Fraction(k * m * (m - 1) // 2), Fraction(m * (m + 1) // 2)]
    answer = frac_latex(ans)
    wrong_s = _distinct(answer, [frac_latex(w) for w in wrong], 2)
    gold = f"{step} The answer is $\\boxed{{{answer}}}$."
    return Item("math", QueryFields(q), gold, answer, tuple(wrong_s), steps=(step,))


# ---------------------------------------------------------------------------------------------- code
@dataclass(frozen=True)
class _Fn:
    text: str  # MBPP-style task sentence, after "Write a function to"
    doc: str  # HumanEval-style docstring sentence
    name: str
    params: str
    hinted: str
    returns: str
    body: str  # correct body, lines not indented
    wrong: tuple[str, ...]
    cases: tuple[tuple, ...]


def _ints(rng: random.Random, n: int, lo: int, hi: int) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


def _with(rng: random.Random, values: list, extra: object) -> list:
    values = [*values, extra]
    rng.shuffle(values)
    return values


def _ordinal(k: int) -> str:
    return f"{k}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(k if k < 20 else k % 10, 'th') }"


_WORDS = ("apple", "river", "stone", "cloud", "lamp", "garden", "tiger", "paper", "music", "orbit", "sun", "bridge",
          "pencil", "ocean", "key", "window", "forest", "at", "is", "a", "quiet", "yellow", "map", "train")  # fmt: skip


def _code_family(rng: random.Random) -> _Fn:
    kind = rng.randrange(16)
    if kind == 0:
        k = rng.randint(2, 60)
        return _Fn(f"count the elements of a list that are greater than {k}.",
                   f"Return how many numbers in the list are greater than {k}.",
                   "count_greater", "nums", "nums: list", "int", f"return sum(1 for x in nums if x > {k})",
                   (f"return sum(1 for x in nums if x >= {k})", f"return len([x for x in nums if x < {k}])"),
                   tuple((_with(rng, _ints(rng, 5, 0, 2 * k), k),) for _ in range(3)))  # fmt: skip
    if kind == 1:
        k = rng.randint(2, 20)
        return _Fn(f"find the sum of the elements of a list that are divisible by {k}.",
                   f"Return the sum of the numbers in the list that are divisible by {k}.",
                   "sum_divisible", "nums", "nums: list", "int", f"return sum(x for x in nums if x % {k} == 0)",
                   (f"return sum(x for x in nums if x % {k} != 0)", f"return sum(1 for x in nums if x % {k} == 0)"),
                   tuple((_with(rng, _ints(rng, 5, 1, 10 * k), k * rng.randint(2, 9)),) for _ in range(3)))  # fmt: skip
    if kind == 2:
        k = rng.randint(2, 6)
        return _Fn(f"repeat every character of a string {k} times.",
                   f"Return the string with every character repeated {k} times.",
                   "repeat_chars", "text", "text: str", "str", f"return ''.join(ch * {k} for ch in text)",
                   (f"return text * {k}", f"return ''.join(ch * {k - 1} for ch in text)"),
                   tuple((rng.choice(_WORDS[:17]),) for _ in range(3)))  # fmt: skip
    if kind == 3:
        k = rng.randint(3, 7)
        sentences = tuple((" ".join([*rng.sample(_WORDS, 6), "x" * k]),) for _ in range(3))
        return _Fn(f"remove the words shorter than {k} characters from a sentence.",
                   f"Return the sentence without the words that are shorter than {k} characters.",
                   "remove_short_words", "sentence", "sentence: str", "str",
                   f"return ' '.join(w for w in sentence.split() if len(w) >= {k})",
                   (f"return ' '.join(w for w in sentence.split() if len(w) > {k})",), sentences)  # fmt: skip
    if kind == 4:
        k = rng.choice([i for i in range(3, 31) if i != 4])
        return _Fn(f"find the nth {k}-gonal number.", f"Return the n-th {k}-gonal number.",
                   "polygonal_number", "n", "n: int", "int", f"return (({k} - 2) * n * n - ({k} - 4) * n) // 2",
                   (f"return ({k} - 2) * n * n // 2", f"return (({k} - 2) * n * n + ({k} - 4) * n) // 2"),
                   tuple((n,) for n in rng.sample(range(2, 25), 3)))  # fmt: skip
    if kind == 5:
        k = rng.randint(1, 9)
        body = f"if not items:\n    return []\nshift = {k} % len(items)\nreturn items[-shift:] + items[:-shift]"
        return _Fn(f"rotate a list to the right by {k} positions.", f"Rotate the list to the right by {k} positions.",
                   "rotate_right", "items", "items: list", "list", body,
                   (f"return items[{k}:] + items[:{k}]", "return items[-1:] + items[:-1]"),
                   tuple((_ints(rng, k + rng.randint(2, 5), 0, 99),) for _ in range(3)))  # fmt: skip
    if kind == 6:
        a, b = rng.sample(range(2, 16), 2)
        lcm = math.lcm(a, b)
        odd = next((a * r for r in range(1, 99) if (a * r) % b), lcm + 1)
        cases = ((lcm * rng.randint(1, 9),), (odd,), (b * rng.randint(1, 9) + lcm,), (rng.randint(1, 500),))
        return _Fn(f"check whether a number is divisible by both {a} and {b}.",
                   f"Return True if n is divisible by both {a} and {b}, otherwise False.",
                   "divisible_by_both", "n", "n: int", "bool", f"return n % {a} == 0 and n % {b} == 0",
                   (f"return n % {a} == 0 or n % {b} == 0", f"return n % {a * b} == 0"), cases)  # fmt: skip
    if kind == 7:
        k = rng.randint(2, 50)
        return _Fn(f"return a list of the first n multiples of {k}.", f"Return the first n positive multiples of {k}.",
                   "first_multiples", "n", "n: int", "list", f"return [{k} * i for i in range(1, n + 1)]",
                   (f"return [{k} * i for i in range(n)]", f"return [{k} + i for i in range(1, n + 1)]"),
                   tuple((n,) for n in rng.sample(range(2, 9), 3)))  # fmt: skip
    if kind == 8:
        c, d = rng.sample("abcdefghijklmnopqrstuvwxyz", 2)
        cases = tuple(("".join(_with(rng, [*rng.sample("abcdefghijklmnopqrstuvwxyz", 5), c], c)),) for _ in range(3))
        return _Fn(f"replace every occurrence of the character '{c}' in a string with '{d}'.",
                   f"Return the text with every '{c}' replaced by '{d}'.",
                   "replace_char", "text", "text: str", "str", f"return text.replace('{c}', '{d}')",
                   (f"return text.replace('{c}', '{d}', 1)", f"return text.replace('{d}', '{c}')"), cases)  # fmt: skip
    if kind == 9:
        lo = rng.randint(0, 20)
        hi = lo + rng.randint(5, 40)
        return _Fn(f"clamp every number in a list to the range from {lo} to {hi}.",
                   f"Clamp every number of the list into the range [{lo}, {hi}].",
                   "clamp_list", "nums", "nums: list", "list", f"return [min(max(x, {lo}), {hi}) for x in nums]",
                   (f"return [x for x in nums if {lo} <= x <= {hi}]", f"return [max(x, {lo}) for x in nums]"),
                   tuple((_with(rng, _ints(rng, 4, lo - 10, hi + 10), hi + 3),) for _ in range(3)))  # fmt: skip
    if kind == 10:
        k = rng.randint(2, 5)
        return _Fn(f"find the sum of the digits of a number, each raised to the power {k}.",
                   f"Return the sum of the digits of n, each raised to the power {k}.",
                   "digit_power_sum", "n", "n: int", "int", f"return sum(int(d) ** {k} for d in str(n))",
                   (f"return sum(int(d) for d in str(n)) ** {k}",),
                   tuple((rng.randint(10, 99999),) for _ in range(3)))  # fmt: skip
    if kind == 11:
        c = rng.choice("abcdefghiklmnoprstw")
        sentences = tuple((" ".join(_with(rng, [*rng.sample(_WORDS, 5), c + "og"], "x" + c + "y")),) for _ in range(3))
        return _Fn(f"count the words in a sentence that start with the letter '{c}'.",
                   f"Return how many words of the sentence start with the letter '{c}'.",
                   "count_words_starting", "sentence", "sentence: str", "int",
                   f"return sum(1 for w in sentence.split() if w.lower().startswith('{c}'))",
                   (f"return sum(1 for w in sentence.split() if '{c}' in w.lower())",), sentences)  # fmt: skip
    if kind == 12:
        k = rng.randint(2, 9)
        return _Fn(f"return every {_ordinal(k)} element of a list, starting with the first one.",
                   f"Return every {_ordinal(k)} element of the list, starting with the first one.",
                   "every_nth", "items", "items: list", "list", f"return items[::{k}]",
                   (f"return items[{k}::{k}]", f"return items[{k - 1}::{k}]"),
                   tuple((_ints(rng, 2 * k + rng.randint(1, k), 0, 50),) for _ in range(3)))  # fmt: skip
    if kind == 13:
        k = rng.randint(2, 8)
        body = f"chunks = []\nfor i in range(0, len(items), {k}):\n    chunks.append(items[i:i + {k}])\nreturn chunks"
        wrong = body.replace("len(items)", f"len(items) - {k}")
        return _Fn(f"split a list into consecutive chunks of {k} elements, the last chunk may be shorter.",
                   f"Split the list into consecutive chunks of {k} elements; the last chunk may be shorter.",
                   "chunk_list", "items", "items: list", "list", body,
                   (wrong, f"return [items[i:i + {k}] for i in range(len(items))]"),
                   tuple((_ints(rng, k * rng.randint(1, 3) + rng.randint(1, k - 1), 0, 50),)
                         for _ in range(3)))  # fmt: skip
    if kind == 14:
        k = rng.randint(2, 6)
        return _Fn(f"find the {k} largest numbers in a list, in descending order.",
                   f"Return the {k} largest numbers of the list in descending order.",
                   "largest_numbers", "nums", "nums: list", "list", f"return sorted(nums, reverse=True)[:{k}]",
                   (f"return sorted(nums)[:{k}]", f"return sorted(nums, reverse=True)[:{k - 1}]"),
                   tuple((rng.sample(range(100), k + 3),) for _ in range(3)))  # fmt: skip
    k = rng.randint(2, 12)
    body = f"total = 0\nwhile n > 0:\n    total += n % 10\n    n //= 10\nreturn total % {k} == 0"
    wrong = f"total = 0\nwhile n > 9:\n    total += n % 10\n    n //= 10\nreturn total % {k} == 0"
    cases = [rng.randint(10, 9999) for _ in range(2)]
    cases.append(next(n for n in range(rng.randint(10, 999), 10**6) if sum(map(int, str(n))) % k == 0))
    return _Fn(f"check whether the sum of the digits of a number is divisible by {k}.",
               f"Return True if the sum of the digits of n is divisible by {k}.",
               "digit_sum_divisible", "n", "n: int", "bool", body, (wrong, f"return n % {k} == 0"),
               tuple((n,) for n in cases))  # fmt: skip


def indent(code: str, spaces: int = 4) -> str:
    """Indent every non-empty line of ``code``."""
    return "\n".join((" " * spaces + line) if line else line for line in code.split("\n"))


@lru_cache(maxsize=16384)
def run_code(program: str, tests: tuple[str, ...] = ()) -> bool:
    """True when ``program`` and then each test run without an exception (in-process; trusted code only)."""
    env: dict[str, object] = {}
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(program, env)
            for test in tests:
                exec(test, env)
    except Exception:
        return False
    return True


def _call_all(fn: _Fn, body: str) -> list[object] | None:
    env: dict[str, object] = {}
    try:
        exec(f"def {fn.name}({fn.params}):\n{indent(body)}\n", env)
        return [env[fn.name](*(list(a) if isinstance(a, list) else a for a in case)) for case in fn.cases]
    except Exception:
        return None


def _args(case: tuple) -> str:
    return ", ".join(repr(a) for a in case)


def _code(task: str, rng: random.Random, number: int) -> Item:
    while True:
        fn = _code_family(rng)
        expected = _call_all(fn, fn.body)
        if expected is None:
            raise AssertionError(f"synthetic code family {fn.name} is broken")
        wrong = tuple(w for w in fn.wrong if _call_all(fn, w) != expected)
        if wrong:
            break
    if task == "mbpp":
        text = rng.choice(("Write a function to ", "Write a python function to ")) + fn.text
        tests = [f"assert {fn.name}({_args(c)}) == {e!r}" for c, e in zip(fn.cases, expected, strict=True)]
        code = f"def {fn.name}({fn.params}):\n{indent(fn.body)}"
        wrong_code = tuple(f"def {fn.name}({fn.params}):\n{indent(w)}" for w in wrong)
        fields = QueryFields(text, test_list=tests)
        return Item(task, fields, str(tests), "", (), task_id=f"Mbpp/{number}", code=code, wrong_code=wrong_code)
    example = f"    >>> {fn.name}({_args(fn.cases[0])})\n    {expected[0]!r}\n"
    stub = f'def {fn.name}({fn.hinted}) -> {fn.returns}:\n    """ {fn.doc}\n{example}    """\n'
    checks = "".join(f"    assert candidate({_args(c)}) == {e!r}\n" for c, e in zip(fn.cases, expected, strict=True))
    test = f"\n\nMETADATA = {{'author': 'synthetic', 'dataset': 'test'}}\n\n\ndef check(candidate):\n{checks}\n"
    fields = QueryFields(stub, function_stub=stub)
    return Item(task, fields, test, "", (), task_id=f"HumanEval/{number}", code=fn.body, wrong_code=wrong)


# ------------------------------------------------------------------------------------ multiple choice
# fmt: off
def _mc(task: str, question: str, correct: str, distractors: Sequence[str], rng: random.Random,
        labels: Sequence[str] = ABCD, steps: tuple[str, ...] = (), tags: frozenset[str] = frozenset()) -> Item:
    # fmt: on
    options = [correct, *distractors]
    rng.shuffle(options)
    labels = list(labels[: len(options)])
    gold = labels[options.index(correct)]
    fields = QueryFields(question, choices=options, choice_labels=labels)
    return Item(task, fields, gold, gold, tuple(x for x in labels if x != gold), steps=steps, tags=tags)


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


def normalize_text(s: str) -> str:
    """The release's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(w for w in s.split() if w not in ("a", "an", "the"))


_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _open_qa(task: str, rng: random.Random) -> Item:
    trivia = task == "trivia_qa"
    q, ans, wrong = _world_fact(rng, trivia)
    q = q if trivia else q.lower()  # NQ questions read like lower-case search queries
    gold = normalize_text(ans) if trivia else ans  # TriviaQA gold is the first normalised alias
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


# ------------------------------------------------------------------------------------------- entry
def make_item(task: str, split: str, rng: random.Random, number: int, force: str = "") -> Item:
    """One synthetic item of ``task``; ``force`` plants a quirk: 'decimal', 'digit_labels' or 'true'.

    Raises ValueError when the draw cannot make a valid item (the caller draws again).
    """
    makers: dict[str, Callable[[], Item]] = {
        "gsm8k": lambda: _gsm8k(rng, force == "decimal"),
        "math": lambda: _math(rng),
        "mbpp": lambda: _code("mbpp", rng, number),
        "human_eval": lambda: _code("human_eval", rng, number),
        "commonsense_qa": lambda: _commonsense(rng),
        "openbook_qa": lambda: _openbook(rng),
        "arc_challenge": lambda: _arc(rng, force == "digit_labels"),
        "hellaswag": lambda: _hellaswag(rng),
        "natural_qa": lambda: _open_qa("natural_qa", rng),
        "trivia_qa": lambda: _open_qa("trivia_qa", rng),
        "squad": lambda: _squad(rng),
        "boolq": lambda: _boolq(rng, force == "true"),
        "mmlu": lambda: _mmlu(rng, split),
        "gpqa": lambda: _gpqa(rng),
    }
    item = makers[task]()
    item.difficulty = rng.random() + rng.random() + rng.random() - 1.5  # roughly N(0, 0.5)
    return item
