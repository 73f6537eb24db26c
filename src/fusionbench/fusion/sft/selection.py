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
  ground-truth examples alone. A correct response holding a credential-like string
  (:mod:`~fusionbench.fusion.sft.secrets`) is not selectable unless ``keep_credentials``.

Every skip is counted under a reason of :data:`~fusionbench.fusion.sft.report.SKIP_REASONS`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
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
from fusionbench.fusion.sft.secrets import CredentialScan
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


@dataclass(frozen=True)
class _Rows:
    """The response rows' columns as arrays (``query``: the row's index in the queries, -1 if unknown)."""

    query: np.ndarray
    performance: np.ndarray
    judge: np.ndarray
    tokens: np.ndarray
    response: np.ndarray
    model: np.ndarray
    mode: np.ndarray
    source: np.ndarray
    selectable: np.ndarray


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
        credentials: CredentialScan | None = None,
    ) -> None:
        """``credentials``: drop correct responses that hold a credential-like string, counting them with this scan
        (None keeps them)."""
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
        self.instruction, self.credentials = instruction, credentials
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
    def _rows(self) -> _Rows:
        """The response rows as arrays, and which of them are selectable (skips counted)."""
        table = self.source.responses
        index = {q["query_id"]: i for i, q in enumerate(self.source.queries)}
        query = np.array([index.get(q, -1) for q in table["query_id"].to_pylist()], dtype=np.int64)
        self.skipped["responses_without_query"] += int((query < 0).sum())
        blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(table["response"])), 0)
        has_response = pc.invert(pc.fill_null(blank, True)).to_numpy(zero_copy_only=False)
        performance = _floats(self.source, "performance")
        known, unscored = query >= 0, np.isnan(performance)
        scored = known & has_response & ~unscored
        if self.select != "label-only":
            self.skipped["missing_responses"] += int((known & ~has_response).sum())
            self.skipped["unscored_responses"] += int((known & has_response & unscored).sum())
            self.skipped["wrong_responses"] += int((scored & (performance <= 0)).sum())
        column = {name: table[name].to_numpy(zero_copy_only=False) for name in ("response", "model", "mode", "source")}
        selectable = np.flatnonzero(scored & (performance > 0)) if self.select != "label-only" else np.array([], int)
        if self.credentials is not None and len(selectable):
            held = self.credentials.held(table["response"].take(pa.array(selectable)))
            self.skipped["credential_responses"] += int(held.sum())
            selectable = selectable[~held]
        return _Rows(
            query, performance, _floats(self.source, "judge_score"), _floats(self.source, "output_tokens"),
            selectable=selectable, **column,
        )  # fmt: skip

    def _ranked(self, rows: _Rows) -> list[np.ndarray]:
        """Per query (in the queries' order), its selectable rows, best first."""
        picked = rows.selectable
        if len(picked):
            keys = ranking_keys(self.select, rows.performance, rows.judge, rows.tokens)
            keys = [k[picked] for k in [*keys, _codes(rows.model), _codes(rows.mode)]]
            picked = picked[np.lexsort([*reversed(keys), rows.query[picked]])]
        starts = np.searchsorted(rows.query[picked], np.arange(len(self.source.queries) + 1))
        return [picked[starts[i] : starts[i + 1]] for i in range(len(self.source.queries))]

    def _response(self, state: _Query, rows: _Rows, row: int) -> Example:
        judge = rows.judge[row]
        return Example(
            self.instruction, state.input, rows.response[row], task=state.info["task"], kind="response",
            query_id=state.info["query_id"], split=self.source.split, model=rows.model[row], mode=rows.mode[row],
            rank=state.next - 1, performance=float(rows.performance[row]),
            judge=None if np.isnan(judge) else float(judge), source=rows.source[row],
        )  # fmt: skip

    def _next_candidates(self, state: _Query, rows: _Rows) -> list[tuple[_Query, Example]]:
        """The query's next distinct responses, as many as it still needs (duplicates skipped and counted)."""
        found: list[tuple[_Query, Example]] = []
        while len(found) < self.top_k - state.accepted and state.next < len(state.candidates):
            row = int(state.candidates[state.next])
            state.next += 1
            text = normalised(rows.response[row])
            if text in state.seen:
                self.skipped["duplicate_responses"] += 1
                continue
            state.seen.add(text)
            found.append((state, self._response(state, rows, row)))
        return found

    def run(self) -> list[Example]:
        """The examples, query by query in the export's order: ground truth first, then responses by rank.

        Responses are taken in rounds: each query's next distinct candidates, as many as it still needs, are
        counted together; one over the length limit is dropped and the next round looks further down."""
        rows = self._rows()
        states = [
            _Query(query, self._input(query), candidates, [], set())
            for query, candidates in zip(self.source.queries, self._ranked(rows), strict=True)
        ]
        if self.select != "label-only":
            self.skipped["queries_without_correct_response"] += sum(not len(s.candidates) for s in states)
        if self.include_ground_truth:
            ground_truths = [(s, e) for s in states if (e := self._ground_truth(s)) is not None]
            for (state, _), example in zip(ground_truths, self._count(ground_truths), strict=True):
                if self._fits(example):
                    state.examples.append(example)
                    state.seen.add(normalised(example.output))
        open_queries = [s for s in states if len(s.candidates)]
        while open_queries:
            pending = [candidate for state in open_queries for candidate in self._next_candidates(state, rows)]
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
