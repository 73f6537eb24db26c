"""Leave one model out on the embedded LLMRouter data: how well matrix factorisation predicts a new model's
correctness from k labelled queries of it (k = 0: cold start, the population prior), and whether routing with the
new model is ever significantly worse than routing without it.

Run: ``python examples/lomo_study.py [--k 0,50] [--n-boot 1000]``; prints a Markdown table (every figure with its
95 % bootstrap CI; "with − without" is paired, on the same resamples).
"""

from __future__ import annotations

import argparse
import warnings

from tqdm import tqdm

from fusionbench.fusion import evaluate, splits
from fusionbench.fusion.evaluation import correctness_auroc
from fusionbench.fusion.evaluation.bootstrap import difference
from fusionbench.fusion.evaluation.inputs import fit_features, load_data, transform
from fusionbench.fusion.routers import MFRouter

PARAMS = {"n_factors": 8, "max_iter": 50, "alpha": 1e-3}


def ci(entry: dict) -> str:
    low, high = entry["ci"]
    return f"{entry['value']:.3f} [{low:.3f}, {high:.3f}]"


def study(model: str, k_shot: int, n_boot: int, seed: int) -> dict[str, str]:
    data = load_data(None)
    train, _, test = splits.apply(data, splits.lomo(data, model, k_shot=k_shot, seed=seed, unseen="mask"))
    without, _, _ = splits.apply(data, splits.lomo(data, model, k_shot=0, seed=seed))
    featurizer, X_train = fit_features("tfidf:1024", train)
    X_test = transform(featurizer, test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masked = MFRouter(missing="mask", **PARAMS).fit(X_train, train.performance, candidates=list(train.candidates))
        plain = MFRouter(**PARAMS).fit(transform(featurizer, without), without.performance,
                                       candidates=list(without.candidates))  # fmt: skip
    new = f"{model}/direct"
    auroc = correctness_auroc(masked, X_test, test, new, n_boot=n_boot, seed=seed)
    result = evaluate({"with": masked, "without": plain}, test, train=train, X=X_test, n_boot=n_boot, seed=seed)
    delta = difference(result.replicates, ("with", "perf"), ("without", "perf"), result.confidence)
    share = result.choice_counts["with"].get(new, 0) / result.n_queries
    return {
        "model": model, "k": str(k_shot), "auroc": ci(auroc), "share": f"{share:.1%}",
        "with": f"{result.value('with'):.3f}", "without": f"{result.value('without'):.3f}",
        "delta": f"{ci(delta)} {delta['verdict']}",
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="0,50", help="labelled queries of the new model (comma-separated)")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    models = sorted({c.split("/")[0] for c in load_data(None).candidates})
    jobs = [(m, int(k)) for m in models for k in args.k.split(",")]
    rows = [study(m, k, args.n_boot, args.seed) for m, k in tqdm(jobs, desc="lomo")]
    print("| held-out model | k | correctness AUROC | routed to it | with | without | with − without |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r[c] for c in ("model", "k", "auroc", "share", "with", "without", "delta")) + " |")


if __name__ == "__main__":
    main()
