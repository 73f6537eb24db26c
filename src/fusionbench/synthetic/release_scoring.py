"""The release's own scoring rules, defects included, as the synthetic release applies them to its responses.

This is deliberately *not* :mod:`fusionbench.metrics` (which fixes the defects): the synthetic release must carry
the release's ``performance`` values, mis-scorings and all, so that rescoring has the release's disagreements to find.
"""

from __future__ import annotations

import ast
import re

from fusionbench.metrics.qa import normalize_answer
from fusionbench.schema import MULTIPLE_CHOICE_TASKS
from fusionbench.synthetic.items import Item, run_code

_MC_PAREN = re.compile(r"\(\s*[a-zA-Z]\s*\)")
_GSM_NUM = re.compile(r"(\-?[0-9\.\,]+)")
_MBPP_CODE = re.compile(r"\[BEGIN\](.*?)(?:\[DONE\]|\[Done\]|$)", re.DOTALL | re.IGNORECASE)
_HE_CODE = re.compile(r"\[BEGIN\](.*?)(?:\[DONE\]|$)", re.DOTALL | re.IGNORECASE)


def _last_boxed(text: str) -> str | None:
    if "\\boxed " in text:
        return "\\boxed " + text.split("\\boxed ")[-1].split("$")[0]
    idx = text.rfind("\\boxed")
    idx = text.rfind("\\fbox") if idx < 0 else idx
    if idx < 0:
        return None
    depth = 0
    for i in range(idx, len(text)):
        depth += (text[i] == "{") - (text[i] == "}")
        if text[i] == "}" and depth == 0:
            return text[idx : i + 1]
    return None


def _unbox(text: str | None) -> str | None:
    if text is None:
        return None
    if text.startswith("\\boxed "):
        return text[len("\\boxed ") :]
    return text[len("\\boxed{") : -1] if text.startswith("\\boxed{") and text.endswith("}") else None


def _fix_fracs(s: str) -> str:
    head, *rest = s.split("\\frac")
    for sub in rest:
        head += "\\frac"
        if sub.startswith("{") or len(sub) < 2:
            if not sub.startswith("{"):
                return s
            head += sub
        elif sub[1] == "{":
            head += "{" + sub[0] + "}" + sub[1:]
        else:
            head += "{" + sub[0] + "}{" + sub[1] + "}" + sub[2:]
    return head


def _strip_latex(s: str) -> str:
    """The Hendrycks MATH answer normalisation the release used."""
    s = s.replace("\n", "").replace("\\!", "").replace("\\\\", "\\").replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\left", "").replace("\\right", "").replace("^{\\circ}", "").replace("^\\circ", "")
    s = s.replace("\\$", "")
    if "\\text{ " in s:
        parts = s.split("\\text{ ")
        if len(parts) != 2:
            raise ValueError("units")
        s = parts[0]
    s = s.replace("\\%", "").replace(" .", " 0.").replace("{.", "{0.")
    if not s:
        return s
    s = "0" + s if s[0] == "." else s
    if len(s.split("=")) == 2 and len(s.split("=")[0]) <= 2:
        s = s.split("=")[1]
    if "\\sqrt" in s:
        head, *rest = s.split("\\sqrt")
        s = head + "".join("\\sqrt" + (r if r[:1] == "{" else "{" + r[:1] + "}" + r[1:]) for r in rest)
    s = _fix_fracs(s.replace(" ", ""))
    s = "\\frac{1}{2}" if s == "0.5" else s
    parts = s.split("/")
    if len(parts) == 2:
        a, b = int(parts[0]), int(parts[1])  # a ValueError falls back to plain comparison, as in the release
        s = f"\\frac{{{a}}}{{{b}}}" if s == f"{a}/{b}" else s
    return s


def _math_equiv(a: str, b: str) -> bool:
    try:
        return _strip_latex(a) == _strip_latex(b)
    except (ValueError, IndexError):
        return a == b


def release_performance(item: Item, response: str) -> str:
    """The release's ``performance`` value for ``response``, by its own rules (defects included)."""
    task, gold = item.task, item.ground_truth
    if task in MULTIPLE_CHOICE_TASKS:
        found = _MC_PAREN.findall(response)
        return "1.0" if found and gold.strip().lower() in found[-1].lower() else "0.0"
    if task == "gsm8k":
        gold_n = gold.split("####")[-1].replace(",", "").replace("$", "").replace(".", "").strip()
        nums = [n for n in _GSM_NUM.findall(response) if n not in ("", ".")]
        ok = bool(nums) and nums[-1].replace(",", "").replace("$", "").replace(".", "").strip() == gold_n
        return "1.0" if ok else "0.0"
    if task == "math":
        pred = _unbox(_last_boxed(response))
        return "1.0" if pred is not None and _math_equiv(pred, _unbox(_last_boxed(gold)) or "") else "0.0"
    if task == "mbpp":
        match = _MBPP_CODE.search(response)
        code = match.group(1).strip() if match else response.strip()
        return f"{{'pass@1': {1.0 if run_code(code, tuple(ast.literal_eval(gold))) else 0.0}}}"
    if task == "human_eval":
        match = _HE_CODE.search(response)
        raw = match.group(1).strip() if match else ""
        code = (raw if raw.startswith("def ") else "    " + raw.replace("\n", "\n    ")) if match else response.strip()
        stub = item.fields.function_stub or ""
        program = f"{stub}{code}\n{gold}\ncheck({item.fields.entry_point})"
        return f"{{'pass@1': {1.0 if run_code(program) else 0.0}}}"
    pred, ref = normalize_answer(response), normalize_answer(gold)  # cem: the gold is a substring of the response
    return "1.0" if ref in pred else "0.0"
