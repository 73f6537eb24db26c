"""Synthetic gsm8k word problems and MATH-style problems, each with a computed answer."""

from __future__ import annotations

import math
import random
from fractions import Fraction

from fusionbench.prompts import QueryFields
from fusionbench.synthetic.items._common import _PEOPLE, Item, _distinct, _num, _person


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
