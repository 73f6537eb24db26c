"""A deterministic generator of a SYNTHETIC LLMFusionBench release, in the release's exact file format.

Everything this module writes is synthetic: the queries are template-generated (see
:mod:`fusionbench.synthetic.items`), the "model responses" are canned text that is right or wrong
according to a made-up skill per model, and the scores, token counts, embeddings and judge scores
are computed or pseudo-random. None of it comes from the real release or from real models. It
exists to ship a small sample inside the package (:data:`SAMPLE_DIR`) and to write full-size
releases (~300k rows) for benchmarks and tests of the ingestion code.

Format (as the release's pandas code wrote it): ``train.csv`` and ``partial_test.csv``, header =
:data:`~fusionbench.schema.RELEASE_COLUMNS`, QUOTE_MINIMAL, ``"\\n"`` line ends and a backslash
escape character (a backslash in a value is written doubled). Each query is a block of 40 rows:
per model in catalogue order, ``<model>`` (direct prompt) then ``<model>_think`` (cot prompt).
Embeddings are 768 values written torch-style (``tensor([[...]])``, 4 decimals, wrapped lines) on
the first row of a block only. Token counts are a stand-in, the number of regex word/punctuation
pieces: the real release counted GPT-2 tokens. ``cost`` is ``in_tokens * in_price + out_tokens *
out_price`` in micro-dollars. ``performance`` follows the release's scoring rules, defects included.

Quirks planted in every release (even the 2/1-query sample): one missing row (a train block of 39
rows); one exactly duplicated row in partial_test (a test block of 41 rows); one failed generation
per split (a model's direct and think rows with empty response, prices, tokens, performance and
cost); ``{'pass@1': x}`` performance strings for code tasks; an ARC item with digit labels 1-4; MMLU
train items in auxiliary_train style (ARC/OBQA/RACE-like); a GSM8K item with a decimal answer that
the release rule mis-scores both ways; a BoolQ response saying "untrue" scored correct; no GPQA in
partial_test, and GPQA gold letters from the release's buggy shuffle; a few judge failures as 0.0.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import math
import random
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from fusionbench import catalog
from fusionbench.metrics.qa import normalize_answer
from fusionbench.prompts import render
from fusionbench.schema import MULTIPLE_CHOICE_TASKS, RELEASE_COLUMNS, RELEASE_METRICS, TASKS, THINK_SUFFIX, query_id
from fusionbench.synthetic.items import Item, make_item, run_code

#: The shipped sample (train_queries=2, test_queries=1, seed=0); rebuild it with :func:`regenerate_sample`.
SAMPLE_DIR = Path(str(resources.files("fusionbench.synthetic").joinpath("sample")))
SAMPLE_ARGS = {"train_queries": 2, "test_queries": 1, "seed": 0}
FILES = {"train": "train.csv", "test": "partial_test.csv"}

TASK_DESCRIPTIONS = {
    "gsm8k": "Grade-school maths word problems that need a few steps of arithmetic.",
    "math": "Competition-style maths problems with a single final answer in LaTeX.",
    "mbpp": "Short Python programming tasks checked by assert-based unit tests.",
    "human_eval": "Python functions to complete from a signature and docstring, checked by unit tests.",
    "commonsense_qa": "Five-way multiple-choice questions about everyday commonsense situations.",
    "openbook_qa": "Four-way multiple-choice questions on elementary science facts.",
    "arc_challenge": "Hard grade-school science questions in multiple-choice form.",
    "hellaswag": "Pick the most plausible continuation of an everyday activity description.",
    "natural_qa": "Short-answer questions phrased like web search queries.",
    "trivia_qa": "Trivia questions with short factual answers.",
    "squad": "Answer a question with a span of a short passage.",
    "boolq": "Yes/no questions about a short passage, answered True or False.",
    "mmlu": "Multiple-choice questions across many academic subjects.",
    "gpqa": "Hard graduate-level science questions in multiple-choice form.",
}
_TASK_BASE = {"gsm8k": 1.0, "math": -0.4, "mbpp": 0.5, "human_eval": 0.6, "commonsense_qa": 0.9, "openbook_qa": 1.1,
              "arc_challenge": 1.3, "hellaswag": 0.4, "natural_qa": -0.3, "trivia_qa": 0.8, "squad": 1.3,
              "boolq": 1.6, "mmlu": 0.6, "gpqa": -1.3}  # fmt: skip
_COT_BONUS = {"gsm8k": 0.7, "math": 0.5, "gpqa": 0.3, "mmlu": 0.2, "arc_challenge": 0.2}
_CODE, _MATHS, _READING = ("mbpp", "human_eval"), ("gsm8k", "math"), ("squad", "boolq", "natural_qa")
#: Skill adjustments by the model that really generated the rows: (all tasks, {task group: extra}).
_ADJUST: dict[str, tuple[float, dict[tuple[str, ...], float]]] = {
    "gemma-7b": (-0.8, {}),
    "codegemma-7b": (-0.6, {_CODE: 1.4}),
    "granite-34b-code-instruct": (-0.5, {_CODE: 1.0}),
    "qwen2.5-7b-instruct": (0.2, {_CODE: 0.5, _MATHS: 0.6}),
    "llama3-chatqa-1.5-8b": (0.0, {_READING: 0.7, _MATHS: -0.6}),
    "llama3-chatqa-1.5-70b": (0.0, {_READING: 0.7, _MATHS: -0.6}),
    "mixtral-8x7b-instruct-v0.1": (-0.6, {}),
    "mixtral-8x22b-instruct-v0.1": (-0.5, {}),
    "palmyra-creative-122b": (-0.4, {_CODE: -0.8, _MATHS: -0.8}),
    "deepseek-r1": (-1.0, {_MATHS: 1.0, _CODE: 0.6, ("gpqa",): 1.0}),
    "llama-3.3-nemotron-super-49b-v1": (0.3, {}),
}


@dataclass(frozen=True)
class _Model:
    name: str
    description: str
    price_in: float
    price_out: float
    skill: dict[str, float]  # task -> logit offset
    format_slip: float  # chance of an answer the release's parser cannot read
    reasoner: bool  # writes a <think> block first


def _models() -> list[_Model]:
    sheet, infos = catalog.load_price_sheet(), catalog.models()
    out = []
    for name, info in infos.items():
        gen = info.generated_by.rsplit("/", 1)[-1]  # the swapped ids behave like the model that generated them
        size = infos[gen].size_b if gen in infos else info.size_b
        base, extra = _ADJUST.get(gen, (0.0, {}))
        skill = {t: 0.8 * math.log(size / 8) + base + sum(v for g, v in extra.items() if t in g) for t in TASKS}
        price_in, price_out = sheet.price(name)
        slip = 0.12 if gen == "gemma-7b" else 0.03
        out.append(_Model(name, info.description, price_in, price_out, skill, slip, gen == "deepseek-r1"))
    return out


# --------------------------------------------------------------------------------- release scoring
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


# ------------------------------------------------------------------------------------- responses
_CALC = re.compile(r"<<[^>]*>>")
_THINK = ("Okay, let me read the question carefully.", "First I need the key facts.",
          "Let me double-check that before answering.", "That seems consistent.")  # fmt: skip


def _respond(item: Item, model: _Model, cot: bool, correct: bool, rng: random.Random) -> str:
    task, slip = item.task, rng.random() < model.format_slip
    if task in MULTIPLE_CHOICE_TASKS:
        label = item.answer if correct else rng.choice(item.wrong)
        text = item.fields.choices[item.fields.choice_labels.index(label)]
        tag = label if slip else f"({label})"
        if cot:
            why = item.steps[0] if correct and item.steps else f"Option {label}, {text.rstrip('.')}, fits best."
            body = f"Let's look at each option.\n{why}\nTherefore, the answer is {tag}."
        else:
            body = rng.choice((tag, f"{tag} {text}", f"The answer is {tag}.", f"The correct answer is {tag} {text}"))
    elif task == "gsm8k":
        value = item.answer if correct else rng.choice(item.wrong)
        if value.isdigit() and int(value) >= 1000 and rng.random() < 0.3:
            value = f"{int(value):,}"
        steps = [_CALC.sub("", s) for s in item.steps] if correct else [_CALC.sub("", s) for s in item.steps[:-1]]
        end = rng.choice((f"The answer is {value}.", f"#### {value}", f"So the final answer is {value}."))
        body = "\n".join([*steps, end]) if cot else rng.choice((end, value, " ".join([*steps[:1], end])))
    elif task == "math":
        value = item.answer if correct else rng.choice(item.wrong)
        if correct and rng.random() < 0.3:
            value = value.replace("\\frac", "\\dfrac")
        box = f"{value}" if slip else f"$\\boxed{{{value}}}$"
        why = item.steps[0] if correct else "Working through the algebra step by step."
        body = f"{why}\nTherefore, the answer is {box}." if cot else rng.choice((box, f"The answer is {box}."))
    elif task in ("mbpp", "human_eval"):
        code = item.code if correct else rng.choice(item.wrong_code)
        if task == "human_eval" and slip:
            code = "    " + code.replace("\n", "\n    ")  # indented body: the release's re-indent breaks it
        done = rng.choice(("[DONE]", "[DONE]", "[Done]"))
        block = f"```python\n{code}\n```" if slip and task == "mbpp" else f"[BEGIN]\n{code}\n{done}"
        plan = "Let's think step by step. I will write the function and check it against the examples.\n\n"
        body = (plan if cot else "") + block
    elif task == "boolq":
        said = item.answer if correct else ("False" if item.answer == "True" else "True")
        if said == "False" and rng.random() < 0.03:
            said = "False. The statement is untrue"
        elif slip:
            said = "Yes" if said == "True" else "No"
        body = (
            f"The passage describes {item.fields.context.split(' is ')[0]}.\nSo the answer is {said}." if cot else said
        )
    else:  # natural_qa, trivia_qa, squad
        value = item.answer if correct else rng.choice(item.wrong)
        if cot:
            lead = "The passage states this directly." if task == "squad" else "Let me recall the relevant fact."
            body = f"{lead}\nSo the answer is {value}."
        else:
            body = rng.choice((value, f"{value}.", f"The answer is {value}."))
    if model.reasoner:
        return "<think>\n" + " ".join(rng.sample(_THINK, rng.randint(2, 4))) + "\n</think>\n\n" + body
    return body


def _judge(correct: bool, cot: bool, rng: random.Random) -> str:
    if rng.random() < 0.004:  # judge failures were stored as 0.0
        return "0.0"
    if not correct:
        return rng.choices(("0.0", "0.3", "0.6"), (0.85, 0.1, 0.05))[0]
    if cot:
        return rng.choices(("1.0", "0.8", "0.6"), (0.45, 0.45, 0.1))[0]
    return rng.choices(("0.3", "0.6", "0.8", "1.0"), (0.35, 0.35, 0.2, 0.1))[0]


# ------------------------------------------------------------------------------ tokens, embeddings
_PIECE = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """Stand-in token count: regex word and punctuation pieces (the release used the GPT-2 tokenizer)."""
    return len(_PIECE.findall(text))


def _vector(key: str, scale: float) -> list[float]:
    raw = struct.unpack("<1536H", hashlib.shake_256(key.encode("utf-8")).digest(3072))
    return [(raw[i] + raw[i + 768]) / 65535.0 * scale - scale for i in range(768)]


def embedding_text(text: str, task: str) -> str:
    """A 768-d pseudo-embedding of ``text`` (near its task's centre), printed the way torch prints a tensor."""
    centre, noise = _centre(task), _vector("q:" + text, 0.08)
    cells = [f"{c + n:.4f}" for c, n in zip(centre, noise, strict=True)]
    width = max(map(len, cells))
    per_line = max(1, (80 - 8) // (width + 2))
    lines = [", ".join(c.rjust(width) for c in cells[i : i + per_line]) for i in range(0, 768, per_line)]
    return "tensor([[" + (",\n" + " " * 9).join(lines) + "]])"


@cache
def _task_embedding(task: str) -> str:
    return embedding_text(TASK_DESCRIPTIONS[task], task)


_CENTRES: dict[str, list[float]] = {}


def _centre(task: str) -> list[float]:
    if task not in _CENTRES:
        _CENTRES[task] = _vector("task:" + task, 0.3)
    return _CENTRES[task]


# ------------------------------------------------------------------------------------- generation
def _items(split: str, n: int, seed: int, offset: int, seen: set[str]) -> Iterator[Item]:
    forced = {"gsm8k": "decimal", "arc_challenge": "digit_labels", "boolq": "true"} if split == "train" else {}
    for task in TASKS:
        if task == "gpqa" and split == "test":
            continue  # the release has no GPQA test queries
        for i in range(n):
            for attempt in range(500):
                rng = random.Random(f"{seed}|{split}|{task}|{i}|{attempt}")
                number = offset + i + (task == "mbpp")
                try:
                    item = make_item(task, split, rng, number, forced.get(task, "") if i == 0 else "")
                except ValueError:
                    continue
                f = item.fields
                key = query_id(task, f.question, f.context, f.choices or ())
                if key not in seen:
                    seen.add(key)
                    yield item
                    break
            else:
                raise RuntimeError(f"could not make {n} distinct synthetic {task} queries")


def _block(item: Item, models: list[_Model], rng: random.Random, overrides: dict) -> list[list[str]]:
    """The 40 rows of one query."""
    prompts = {mode: render(item.task, item.fields, mode) for mode in ("direct", "cot")}
    in_tokens = {mode: count_tokens(p) for mode, p in prompts.items()}
    desc, base = TASK_DESCRIPTIONS[item.task], _TASK_BASE[item.task] - 3 * item.difficulty
    head, tail = [item.task, item.task_id, desc], [item.ground_truth, RELEASE_METRICS[item.task]]
    rows: list[list[str]] = []
    for m, model in enumerate(models):
        for mode in ("direct", "cot"):
            cot = mode == "cot"
            logit = base + model.skill[item.task] + (_COT_BONUS.get(item.task, 0.15) if cot else 0.0)
            correct = rng.random() < 1 / (1 + math.exp(-logit))
            response: str | None = _respond(item, model, cot, correct, rng)
            correct, response = overrides.get((m, mode), (correct, response))
            if rows:
                embed = ["", prompts[mode], ""]
            else:
                embed = [_task_embedding(item.task), prompts[mode], embedding_text(prompts[mode], item.task)]
            llm = model.name + (THINK_SUFFIX if cot else "")
            if response is None:  # a failed generation: the release wrote "" for all of these
                rows.append([*head, *embed, *tail, llm, "", "", "", "", "", "", "", model.description, "0.0"])
                continue
            out_tokens = count_tokens(response)
            cost = in_tokens[mode] * model.price_in + out_tokens * model.price_out
            rows.append([*head, *embed, *tail, llm, repr(model.price_in), repr(model.price_out), str(in_tokens[mode]),
                         str(out_tokens), release_performance(item, response), repr(cost), response,
                         model.description, _judge(correct, cot, rng)])  # fmt: skip
    return rows


def _overrides(item: Item, failed_model: int | None) -> dict[tuple[int, str], tuple[bool, str | None]]:
    """Rows forced to show a quirk: (correct, response), None for a failed generation."""
    out: dict[tuple[int, str], tuple[bool, str | None]] = {}
    if "decimal" in item.tags:  # "18.5" is compared as "185": a wrong 185 scores 1, a right 18.50 scores 0
        whole, cents = item.answer.replace(".", ""), f"{float(item.answer):.2f}"
        out[(0, "direct")] = (False, f"Each piece is {whole} meters long. The answer is {whole}.")
        out[(1, "direct")] = (True, f"Each piece is {cents} meters long. The answer is {cents}.")
    if "untrue" in item.tags:  # the gold "true" is a substring of "untrue": a wrong answer scores 1
        out[(2, "direct")] = (False, "False. The statement is untrue.")
    if failed_model is not None:
        out[(failed_model, "direct")] = out[(failed_model, "cot")] = (False, None)
    return out


def generate_release(out_dir: str | Path, train_queries: int, test_queries: int, seed: int = 0) -> dict[str, int]:
    """Write a synthetic ``train.csv`` and ``partial_test.csv`` into ``out_dir``; return rows written per file.

    ``train_queries`` and ``test_queries`` are per task (GPQA has no test queries). The same
    arguments give byte-identical files.
    """
    if train_queries < 2 or test_queries < 1:
        raise ValueError("need train_queries >= 2 and test_queries >= 1 to plant every quirk")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    models, counts = _models(), {}
    seen: set[str] = set()
    for split, n, offset in (("train", train_queries, 0), ("test", test_queries, train_queries)):
        n_blocks = n * (len(TASKS) - (split == "test"))
        forced = {TASKS.index(t) * n for t in ("gsm8k", "arc_challenge", "boolq")} if split == "train" else set()
        pick = random.Random(f"{seed}|{split}|quirks")
        failed_block, other_block = pick.sample([b for b in range(n_blocks) if b not in forced], 2)
        failed_model, other_row = pick.randrange(len(models)), pick.randrange(1, 40)
        rows_written = 0
        with (out_dir / FILES[split]).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\n", escapechar="\\")
            writer.writerow(RELEASE_COLUMNS)
            for b, item in enumerate(_items(split, n, seed, offset, seen)):
                rng = random.Random(f"{seed}|{split}|{b}|rows")
                rows = _block(item, models, rng, _overrides(item, failed_model if b == failed_block else None))
                if b == other_block and split == "train":
                    del rows[other_row]  # the one missing row
                elif b == other_block:
                    rows.insert(other_row + 1, rows[other_row])  # the one exact duplicate
                writer.writerows(rows)
                rows_written += len(rows)
        counts[FILES[split]] = rows_written
    return counts


def regenerate_sample(out_dir: str | Path = SAMPLE_DIR) -> dict[str, int]:
    """Rebuild the shipped sample (train_queries=2, test_queries=1, seed=0)."""
    return generate_release(out_dir, **SAMPLE_ARGS)
