"""The default (fusionbench) protocol: the best responses of each query, and its ground truth, as SFT examples.

Per query (grouped by ``query_id``, never by row position):

* the **input** of every example is the query's direct prompt (``prompt_direct``): the chain-of-thought trigger is
  removed the same way for ground-truth and response examples, whatever mode the response was generated in;
* a **ground-truth example** first (``include_ground_truth``): see
  :func:`~fusionbench.fusion.sft.examples.ground_truth_target`; a code query without a reference solution has
  none (counted), the test code is never a target;
* then up to ``top_k`` **responses**, ranked by the criterion: ``perf`` (performance, then the shorter response),
  ``judge`` (judge score, then the shorter), ``hybrid`` (performance, judge score, then the shorter); ties after
  that by model and mode name, a null judge score or token count last. Only correct responses (performance > 0)
  are selectable; a response equal to an earlier example of the query (white space aside) is skipped; an
  example over ``max_tokens`` is dropped and the next-ranked response takes its place. ``label-only`` gives the
  ground-truth examples alone.

Every skip is counted under a reason of :data:`~fusionbench.fusion.sft.report.SKIP_REASONS`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc

from fusionbench.fusion.sft.examples import (
    INSTRUCTION,
    REFERENCE_RELEASE,
    Example,
    ground_truth_target,
    normalised,
    strip_cot_trigger,
)
from fusionbench.fusion.sft.lengths import TokenCounter
from fusionbench.fusion.sft.source import SFTSource
from fusionbench.schema import CODE_TASKS

CRITERIA = ("perf", "judge", "hybrid", "label-only")


def _floats(source: SFTSource, column: str) -> np.ndarray:
    return source.responses[column].to_numpy(zero_copy_only=False).astype(np.float64)


def _codes(values: np.ndarray) -> np.ndarray:
    return np.unique(values.astype(str), return_inverse=True)[1]


def _last_if_nan(values: np.ndarray, descending: bool) -> np.ndarray:
    """A sort key (ascending) of ``values``: negated when descending, NaN after every number."""
    key = -values if descending else values.copy()
    key[np.isnan(key)] = np.inf
    return key


def ranking_keys(select: str, performance: np.ndarray, judge: np.ndarray, tokens: np.ndarray) -> list[np.ndarray]:
    """The sort keys of a criterion, primary first (ascending, NaN last)."""
    shorter = _last_if_nan(tokens, descending=False)
    if select == "perf":
        return [_last_if_nan(performance, True), shorter]
    if select == "judge":
        return [_last_if_nan(judge, True), shorter]
    if select == "hybrid":
        return [_last_if_nan(performance, True), _last_if_nan(judge, True), shorter]
    raise ValueError(f"unknown selection {select!r}; expected one of {', '.join(CRITERIA)}")


@dataclass
class _Query:
    """One query's selection state."""

    info: dict
    input: str
    candidates: np.ndarray  # response-row indices, best first
    examples: list[Example]
    seen: set[str]
    next: int = 0
    accepted: int = 0


class DefaultSelection:
    """Runs the default protocol over an :class:`SFTSource` (see the module docstring)."""

    def __init__(
        self,
        source: SFTSource,
        *,
        select: str = "perf",
        top_k: int = 5,
        include_ground_truth: bool = True,
        counter: TokenCounter | None = None,
        max_tokens: int | None = None,
        instruction: str = INSTRUCTION,
    ) -> None:
        if select not in CRITERIA:
            raise ValueError(f"unknown selection {select!r}; expected one of {', '.join(CRITERIA)}")
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, not {top_k}")
        if select == "label-only" and not include_ground_truth:
            raise ValueError("label-only selects the ground-truth examples alone; it cannot exclude them")
        if max_tokens is not None and counter is None:
            raise ValueError("max_tokens needs a tokenizer to count with (--tokenizer)")
        self.source, self.select, self.top_k = source, select, top_k
        self.include_ground_truth, self.counter, self.max_tokens = include_ground_truth, counter, max_tokens
        self.instruction = instruction
        self.skipped: Counter = Counter()
        self._input_tokens: dict[int, int] = {}

    # ---- inputs -----------------------------------------------------------------------------------------
    def _input(self, query: dict) -> str:
        if query.get("prompt_direct") is not None:
            return query["prompt_direct"]
        self.skipped["input_from_stripped_prompt"] += 1
        return strip_cot_trigger(query["prompt_cot"]) if query.get("prompt_cot") is not None else query["query"]

    def _count(self, pending: list[tuple[_Query, Example]]) -> list[Example]:
        """The examples with token counts (new query inputs counted once)."""
        if self.counter is None:
            return [example for _, example in pending]
        new_inputs = {id(q): q for q, _ in pending if id(q) not in self._input_tokens}
        if new_inputs:
            prompts = [f"{self.instruction}\n{q.input}" for q in new_inputs.values()]
            for key, n in zip(new_inputs, self.counter.count(prompts), strict=True):
                self._input_tokens[key] = int(n)
        outputs = self.counter.count([example.output for _, example in pending])
        for (q, example), n in zip(pending, outputs.tolist(), strict=True):
            example.input_tokens, example.output_tokens = self._input_tokens[id(q)], n
        return [example for _, example in pending]

    def _fits(self, example: Example) -> bool:
        if self.max_tokens is None or example.input_tokens is None or example.output_tokens is None:
            return True
        if example.input_tokens + example.output_tokens <= self.max_tokens:
            return True
        self.skipped["over_length"] += 1
        return False

    # ---- the run ----------------------------------------------------------------------------------------
    def run(self) -> list[Example]:
        """The examples, query by query in the export's order: ground truth first, then responses by rank."""
        table = self.source.responses
        index = {q["query_id"]: i for i, q in enumerate(self.source.queries)}
        row_query = np.array([index.get(q, -1) for q in table["query_id"].to_pylist()], dtype=np.int64)
        self.skipped["responses_without_query"] += int((row_query < 0).sum())
        responses = table["response"].to_numpy(zero_copy_only=False)
        has_response = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(table["response"])), 0), False)
        has_response = has_response.to_numpy(zero_copy_only=False)
        performance = _floats(self.source, "performance")
        known = row_query >= 0
        scored = known & has_response & ~np.isnan(performance)
        if self.select != "label-only":
            self.skipped["missing_responses"] += int((known & ~has_response).sum())
            self.skipped["unscored_responses"] += int((known & has_response & np.isnan(performance)).sum())
            self.skipped["wrong_responses"] += int((scored & (performance <= 0)).sum())
        selectable = np.flatnonzero(scored & (performance > 0)) if self.select != "label-only" else np.array([], int)
        models, modes = table["model"].to_numpy(zero_copy_only=False), table["mode"].to_numpy(zero_copy_only=False)
        judge, tokens = _floats(self.source, "judge_score"), _floats(self.source, "output_tokens")
        if len(selectable) and self.select != "label-only":
            keys = ranking_keys(self.select, performance, judge, tokens)
            keys = [k[selectable] for k in [*keys, _codes(models), _codes(modes)]]
            order = selectable[np.lexsort([*reversed(keys), row_query[selectable]])]
        else:
            order = selectable
        starts = np.searchsorted(row_query[order], np.arange(len(self.source.queries) + 1))
        judge_or_none = [None if np.isnan(j) else float(j) for j in judge]
        sources = table["source"].to_numpy(zero_copy_only=False)

        states: list[_Query] = []
        ground_truths: list[tuple[_Query, Example]] = []
        for i, query in enumerate(self.source.queries):
            state = _Query(query, self._input(query), order[starts[i] : starts[i + 1]], [], set())
            states.append(state)
            if len(state.candidates) == 0 and self.select != "label-only":
                self.skipped["queries_without_correct_response"] += 1
            if self.include_ground_truth and (example := self._ground_truth(state)) is not None:
                ground_truths.append((state, example))
        for state, example in zip([s for s, _ in ground_truths], self._count(ground_truths), strict=True):
            if self._fits(example):
                state.examples.append(example)
                state.seen.add(normalised(example.output))

        def response_example(state: _Query, row: int, rank: int) -> Example:
            return Example(
                self.instruction, state.input, responses[row], task=state.info["task"], kind="response",
                query_id=state.info["query_id"], split=self.source.split, model=models[row], mode=modes[row],
                rank=rank, performance=float(performance[row]), judge=judge_or_none[row], source=sources[row],
            )  # fmt: skip

        open_queries = [s for s in states if len(s.candidates)]
        while open_queries:
            pending: list[tuple[_Query, Example]] = []
            for state in open_queries:
                wanted = self.top_k - state.accepted
                while wanted and state.next < len(state.candidates):
                    row = int(state.candidates[state.next])
                    state.next += 1
                    text = normalised(responses[row])
                    if text in state.seen:
                        self.skipped["duplicate_responses"] += 1
                        continue
                    state.seen.add(text)
                    pending.append((state, response_example(state, row, state.next - 1)))
                    wanted -= 1
            for (state, _), example in zip(pending, self._count(pending), strict=True):
                if self._fits(example):
                    state.examples.append(example)
                    state.accepted += 1
            open_queries = [s for s in open_queries if s.accepted < self.top_k and s.next < len(s.candidates)]
        return [example for state in states for example in state.examples]

    def _ground_truth(self, state: _Query) -> Example | None:
        query = state.info
        task = query["task"]
        target = ground_truth_target(task, query.get("ground_truth"), query.get("reference_solution"))
        if target is None:
            reason = "ground_truth_without_reference" if task in CODE_TASKS else "ground_truth_missing"
            self.skipped[reason] += 1
            return None
        reference = query.get("reference") if task in CODE_TASKS else REFERENCE_RELEASE
        return Example(
            self.instruction, state.input, target, task=task, kind="ground_truth", query_id=query["query_id"],
            split=self.source.split, reference=reference,
        )  # fmt: skip
