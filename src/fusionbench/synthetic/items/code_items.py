"""Synthetic MBPP and HumanEval items: small function families with a correct body and failing variants."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from fusionbench.prompts import QueryFields
from fusionbench.synthetic.items._common import Item, indent


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
