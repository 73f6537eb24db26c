"""The text normalisation of the leakage check: the fast form (``str.split`` collapse, CoT cue searched in the
tail, cached) gives exactly the definition (regex collapse over the whole text), so saved training records
(hashes of normalised texts) stay valid."""

from __future__ import annotations

import random
import re
import sys
import unicodedata

from fusionbench.fusion.evaluation.inputs import load_data
from fusionbench.fusion.leakage import check_leakage, normalize_text, normalized_texts

_WHITESPACE = re.compile(r"\s+")
_COT_SUFFIX = re.compile(r"\s*let['’]?s think step by step\s*[.!:]?\s*$")


def definition(text: str) -> str:
    """The normalisation as documented: NFKC, lowercase, whitespace collapsed, trailing CoT cue stripped."""
    folded = _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()
    return _COT_SUFFIX.sub("", folded).strip()


def test_str_split_splits_on_exactly_the_characters_regex_whitespace_matches():
    mismatched = [hex(i) for i in range(sys.maxunicode + 1) if chr(i).isspace() != bool(re.fullmatch(r"\s", chr(i)))]
    assert mismatched == []


def test_the_fast_normalisation_is_the_definition():
    pieces = ["Let's think step by step", "let’s think  step by step.", "LETS THINK STEP BY STEP!", "lets think"]
    pieces += [" ", "\t", "\n", "\u00a0", "\u2003", "\x1c", "\u3000", "a", "Ⅻ", "ﬁ", "İ", ":", ".", "step", "ß"]
    rng = random.Random(0)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 14))) for _ in range(20_000)]
    texts += [str(t) for t in load_data(None).texts]  # the embedded real queries
    texts += ["x" * 40 + " Let's think step by step.", "Let's think step by step.", ""]
    assert [normalize_text(t) for t in texts] == [definition(t) for t in texts]
    assert normalize_text("Q?\n\nLet’s think step by step:") == "q?" and normalize_text(None) is None
    assert normalized_texts(["  ", None, "A  b"]) == [None, None, "a b"]


def test_the_cot_and_direct_prompts_of_one_question_overlap():
    class Queries:
        def __init__(self, ids: list[str], texts: list[str]) -> None:
            self.query_ids, self.texts = ids, texts

    report = check_leakage(
        Queries(["a"], ["What is 2+2?"]), Queries(["b"], ["what is  2+2? Let's think step by step."])
    )
    assert report.text_overlap == ("b",) and not report.ok
