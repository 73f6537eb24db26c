"""Question, answer and code tables behind :mod:`fusionbench.synthetic`. All content here is synthetic.

Every item is built from a template with a computed answer, or from invented facts (fictional
companies, towns and people) plus a few well-known world facts (capitals, chemical symbols).
Nothing is copied from the real benchmarks. :func:`make_item` builds one deterministic item for a
task from a seeded :class:`random.Random`.

The tables and templates live in one module per domain: :mod:`._common` (the :class:`Item` record and
shared helpers), :mod:`.math_items`, :mod:`.code_items`, :mod:`.choice_items` and :mod:`.knowledge_items`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from fusionbench.synthetic.items._common import ABCD, Item, indent, run_code
from fusionbench.synthetic.items.choice_items import _arc, _commonsense, _gpqa, _hellaswag, _mmlu, _openbook
from fusionbench.synthetic.items.code_items import _code
from fusionbench.synthetic.items.knowledge_items import COUNTRIES, _boolq, _open_qa, _squad
from fusionbench.synthetic.items.math_items import _gsm8k, _math, frac_latex

__all__ = ["ABCD", "COUNTRIES", "Item", "frac_latex", "indent", "make_item", "run_code"]


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
