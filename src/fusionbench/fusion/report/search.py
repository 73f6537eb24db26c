"""What a fitted router decided on train, as the report shows it: where a task-aware router's test tasks come
from (predicted by its classifier, or given by the user); for a router that searched (``AutoRouter``:
``cv_results_``), every candidate's cross-validated reward and the one chosen; for a router with a novelty guard,
how many test queries it routed to the best single candidate as a new task."""

from __future__ import annotations

from typing import Any

#: How the report words a router's ``task_source_``.
TASK_SOURCES = {
    "classifier": "predicted from the text by the router's task classifier (the true task is not read)",
    "given": "the true task, given by the user (test_tasks='given')",
    "none": "not used (fitted without tasks)",
}


def _task_source(router: Any) -> str | None:
    source = getattr(router, "task_source_", None)
    if source is None and isinstance(getattr(router, "task_source", None), str):  # PerTaskRouter's parameter
        source = router.task_source
    return None if source is None else str(source)


def search_record(router: Any, X_test: Any) -> dict[str, Any] | None:
    """``{"task_source", "chosen", "candidates": [{"label", "mean_reward", "std_reward"}], "novelty_guarded",
    "n_test"}`` (the keys that apply) of a fitted router on one split, or None when none applies."""
    record: dict[str, Any] = {}
    source = _task_source(router)
    if source is not None:
        record["task_source"] = source
    results = getattr(router, "cv_results_", None)
    if not results:
        return record or None
    record["chosen"] = str(getattr(router, "best_label_", ""))
    record["candidates"] = [
        {"label": row["label"], "mean_reward": row["mean_reward"], "std_reward": row["std_reward"]} for row in results
    ]
    if hasattr(router, "novelty"):
        record["novelty_guarded"] = router.novelty(X_test).n_novel
        record["n_test"] = int(X_test.shape[0])
    return record


def search_lines(splits: list[dict[str, Any]]) -> list[str]:
    """Markdown: per split and router, its test tasks' source; for a searching one the chosen candidate, the
    guarded queries and the CV rewards."""
    out: list[str] = []
    for split in splits:
        for name, record in (split.get("searches") or {}).items():
            source = record.get("task_source")
            told = "" if source is None else f" test tasks: {TASK_SOURCES.get(source, source)}."
            if "candidates" not in record:
                out.append(f"- {name}, seed {split.get('seed')}, {split.get('name')}:{told}")
                continue
            guarded = record.get("novelty_guarded")
            guard = "" if guarded is None else f"; novelty guard: {guarded} of {record.get('n_test')} test queries"
            scores = ", ".join(
                f"{c['label']} {c['mean_reward']:.4f} ± {c['std_reward']:.4f}" for c in record["candidates"]
            )
            out.append(
                f"- {name}, seed {split.get('seed')}, {split.get('name')}:{told} chose **{record['chosen']}**{guard}. "
                f"CV reward on train (mean ± std over folds): {scores}"
            )
    return out
