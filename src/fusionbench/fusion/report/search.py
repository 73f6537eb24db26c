"""The model selection a router made on train, as the report shows it: for a router that searched (``AutoRouter``:
``cv_results_``), every candidate's cross-validated reward and the one chosen; for a router with a novelty guard,
how many test queries it routed to the best single candidate as a new task."""

from __future__ import annotations

from typing import Any


def search_record(router: Any, X_test: Any) -> dict[str, Any] | None:
    """``{"chosen", "candidates": [{"label", "mean_reward", "std_reward"}], "novelty_guarded"}`` of a fitted
    searching router on one split, or None for a router that did not search."""
    results = getattr(router, "cv_results_", None)
    if not results:
        return None
    record: dict[str, Any] = {
        "chosen": str(getattr(router, "best_label_", "")),
        "candidates": [
            {"label": row["label"], "mean_reward": row["mean_reward"], "std_reward": row["std_reward"]}
            for row in results
        ],
    }
    if hasattr(router, "novelty"):
        record["novelty_guarded"] = router.novelty(X_test).n_novel
        record["n_test"] = int(X_test.shape[0])
    return record


def search_lines(splits: list[dict[str, Any]]) -> list[str]:
    """Markdown: per split and searching router, the chosen candidate, the guarded queries and the CV rewards."""
    out: list[str] = []
    for split in splits:
        for name, record in (split.get("searches") or {}).items():
            guarded = record.get("novelty_guarded")
            guard = "" if guarded is None else f"; novelty guard: {guarded} of {record.get('n_test')} test queries"
            scores = ", ".join(
                f"{c['label']} {c['mean_reward']:.4f} ± {c['std_reward']:.4f}" for c in record["candidates"]
            )
            out.append(
                f"- {name}, seed {split.get('seed')}, {split.get('name')}: chose **{record['chosen']}**{guard}. "
                f"CV reward on train (mean ± std over folds): {scores}"
            )
    return out
