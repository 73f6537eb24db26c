"""Label, alias, truth-value and keyword extraction of the multiple-choice, QA and boolq scorers."""

from __future__ import annotations

import re

from fusionbench.metrics import extract_bool, extract_choice, f1_score, gold_aliases, item_labels, score, score_details
from fusionbench.metrics.textscan import last_digit, last_match_after, word_positions


def test_mc_the_last_stated_label_counts() -> None:
    assert extract_choice("(B)") == "B"  # letters by default
    assert extract_choice("The answer is B. Wait, the correct option is C.") == "C"
    assert extract_choice("The answer is B, as this choice shows.") == "B"  # a keyword with no label is passed over
    assert extract_choice("Answer: C. Then the answer is A dog.") == "C"  # so is an article
    assert extract_choice("Answer: I think so") is None  # "I" the pronoun
    assert extract_choice("Answer: I because it is") == "I"
    assert extract_choice("The answer is 3", kind="digit") == "3"
    assert extract_choice("The answer is 3") is None


def test_mc_details_carry_the_picked_label() -> None:
    labels = {"choices": ["w", "x", "y"], "choice_labels": list("ABC")}
    assert score_details("mmlu", "So (B).", "B", **labels) == {"acc": 1.0, "pred": "B"}
    assert score_details("mmlu", "So (D).", "D", **labels) == {"acc": 0.0, "pred": "D"}  # not one of the labels
    assert score_details("arc_challenge", "Answer: 2", "2") == {"acc": 1.0, "pred": "2"}
    assert score_details("gpqa", "no idea", "A") == {"acc": 0.0, "pred": None}
    # the option text picks the label: the choices and their (digit) labels both reach the details
    digits = {"choices": ["dog", "cat", "cow"], "choice_labels": ["1", "2", "3"]}
    assert score_details("arc_challenge", "cow", "3", **digits) == {"acc": 1.0, "pred": "3"}


def test_mc_item_information_decides_the_valid_labels() -> None:
    assert item_labels("mmlu") == tuple("ABCD")
    assert item_labels("commonsense_qa") == tuple("ABCDE")
    assert item_labels("mmlu", None, 3) == tuple("ABC")
    assert item_labels("mmlu", (" a", "b ")) == ("A", "B")
    assert score("mmlu", "(D)", "D", choices=["w", "x", "y"]) == 0.0  # three options: no D
    assert score("mmlu", "(C)", "C", choices=["w", "x", "y"]) == 1.0
    assert score("mmlu", "(E)", "E") == 1.0  # no item information: the gold label is trusted
    assert score("mmlu", "(E)", "Option E") == 0.0  # ... only when it is one label
    # a gold given as an option's text, with letter and digit labels
    assert score("mmlu", "(B)", "cat", choices=["dog", "cat"], choice_labels=["A", "B"]) == 1.0
    assert score("arc_challenge", "(2)", "cat", choices=["dog", "cat"], choice_labels=["1", "2"]) == 1.0
    # the option-text fallback with more labels than choices
    assert score("mmlu", "cat", "B", choices=["dog", "cat"], choice_labels=list("ABCD")) == 1.0
    assert score("mmlu", "cat", "B", choices=["cat", "cat"], choice_labels=list("AB")) == 0.0  # ambiguous text


def test_gold_aliases_forms() -> None:
    assert gold_aliases("['NYC', 'Big Apple']") == ("NYC", "Big Apple")
    assert gold_aliases("[1990, 1991]") == ("[1990, 1991]",)  # not a list of strings: the text itself
    assert gold_aliases("[not a list") == ("[not a list",)
    assert gold_aliases(1990) == ("1990",)
    assert gold_aliases(None) == ()
    assert gold_aliases("x", "y") == ("x", "y")
    assert gold_aliases(("x", "  ", "x"), ["z"]) == ("x", "z")  # blanks dropped, duplicates once
    assert gold_aliases({"a": 1}) == ("{'a': 1}",)


def test_qa_em_and_f1_edges() -> None:
    assert score_details("squad", "Hawaii.", "hawaii") == {"acc": 1.0, "em": 1.0, "f1": 1.0}
    assert score_details("trivia_qa", "Big Apple", "NYC", aliases=["the Big Apple"]) == {
        "acc": 1.0,
        "em": 1.0,
        "f1": 1.0,
    }
    assert score_details("squad", "x", "", aliases=[" "]) == {"acc": 0.0, "em": 0.0, "f1": 0.0}
    assert f1_score("a", "the") == 1.0  # both empty after normalisation
    assert f1_score("", "cat") == 0.0
    assert f1_score("cat", "") == 0.0
    assert f1_score("x", []) == 0.0


def test_extract_bool_forms() -> None:
    assert extract_bool("The answer is: (False), though yes it looks true") is False
    assert extract_bool("Answer - yes") is True
    assert extract_bool("yes and no") is None
    assert extract_bool("nothing") is None


def test_word_positions_and_scans() -> None:
    assert list(word_positions("answer x_answer answers answer", "answer")) == [0, 24]
    assert list(word_positions("ab ab ab", "ab")) == [0, 3, 6]
    assert list(word_positions("ab ab ab", "ab", 1)) == [3, 6]
    assert list(word_positions("", "ab")) == []
    assert last_digit("1 then 2 then 1.") == 14
    assert last_digit("none") == -1
    tail = re.compile(r"(?i:answer) is (\w+)")
    assert last_match_after("Answer is x; answer is y", ("answer",), tail).group(1) == "y"
    assert last_match_after("answer is x; the answer: y", ("answer",), tail).group(1) == "x"
    assert last_match_after("no keyword", ("answer",), tail) is None
