"""What the ``route`` commands are given, turned into objects: data specs, split schemes, featuriser specs.

Data (``--data``):

* nothing, ``embedded`` or ``embedded:<name>``: a dataset shipped in the package (default: LLMRouter's);
* ``<kind>=<path>`` (also ``external:<kind>=<path>``): a public routing dataset through its converter
  (``routerbench``, ``llmrouter``, ``routellm-mmlu``, ``routellm-gsm8k``, ``routellm-mt_bench``,
  ``gsm8k-solutions``; see :mod:`fusionbench.fusion.converters`);
* a folder: a fusionbench export;
* ``owner/name`` that is not a folder: a Hugging Face Hub dataset repository holding an export (downloaded with
  ``huggingface_hub.snapshot_download``; this path needs the network).

Split schemes (``--split-scheme`` with ``--scheme-arg key=value``): ``release``, ``random``, ``task_ood``,
``lomo``, ``naive`` (:mod:`fusionbench.fusion.splits`). Features (``--features``): ``embedding`` (stored
vectors), ``tfidf``, ``tfidf:<max_features>``, ``st`` or ``st:<path>`` (sentence-transformers).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fusionbench.fusion import splits
from fusionbench.fusion.data import IncompleteDataError, RoutingData

SCHEMES: dict[str, Any] = {
    "release": splits.release,
    "random": splits.random,
    "task_ood": splits.task_ood,
    "lomo": splits.lomo,
    "naive": splits.naive,
}
_LIST_ARGS = {"holdout_tasks"}


def load_data(
    spec: str | None,
    *,
    incomplete: str = "error",
    tasks_from: str = "task",
    score_column: str = "performance",
    lenient: bool = False,
) -> RoutingData:
    """RoutingData of a data spec (see the module docstring); ``tasks_from="subject"`` routes per subject;
    ``lenient``: a KIND=PATH dataset's values outside their valid range become null and are counted."""
    from fusionbench.fusion.converters import CONVERTERS, from_external

    text = (spec or "embedded").strip()
    if text == "embedded" or text.startswith("embedded:"):
        from fusionbench.fusion import embedded

        data = embedded.load(text.partition(":")[2] or embedded.DEFAULT).resolve_incomplete(incomplete)  # type: ignore[arg-type]
    elif "=" in text:
        kind, _, path = text.removeprefix("external:").partition("=")
        if kind.strip().lower() not in CONVERTERS:
            raise ValueError(f"unknown data kind {kind!r} in --data {text!r}; known: {sorted(CONVERTERS)}")
        data = _with_hint(lambda: from_external(kind, path, incomplete=incomplete, lenient=lenient))
    elif Path(text).exists():
        data = _with_hint(
            lambda: RoutingData.from_export(text, incomplete=incomplete, score_column=score_column)  # type: ignore[arg-type]
        )
    elif text.count("/") == 1 and not text.startswith((".", "/")):
        data = _with_hint(lambda: _from_hub(text, incomplete, score_column))
    else:
        raise FileNotFoundError(f"--data {text!r}: no such folder, and not KIND=PATH, a Hub id or 'embedded'")
    if tasks_from == "subject":
        data = data.subjects_as_tasks()
    elif tasks_from != "task":
        raise ValueError(f"tasks_from must be 'task' or 'subject', not {tasks_from!r}")
    return data


def _with_hint(load: Any) -> RoutingData:
    try:
        return load()
    except IncompleteDataError as error:
        raise IncompleteDataError(
            f"{error} (on the command line: --incomplete drop_queries or --incomplete drop_candidates)"
        ) from None


def _from_hub(repo_id: str, incomplete: str, score_column: str) -> RoutingData:
    """An export published on the Hugging Face Hub (downloaded once into the Hub cache)."""
    from huggingface_hub import snapshot_download

    local = snapshot_download(repo_id=repo_id, repo_type="dataset")
    return RoutingData.from_export(local, incomplete=incomplete, score_column=score_column)  # type: ignore[arg-type]


def parse_pairs(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``["k=v", ...]`` -> {k: v} with ints, floats, booleans, None and ``a+b`` lists (for holdout_tasks)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value, got {pair!r}")
        out[key.strip()] = _value(key.strip(), raw.strip())
    return out


def _value(key: str, raw: str) -> Any:
    if key in _LIST_ARGS:
        return [part for part in raw.replace(",", "+").split("+") if part]
    lowered = raw.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    if raw.startswith("(") and raw.endswith(")"):
        return tuple(int(p) for p in raw[1:-1].split(",") if p.strip())
    return raw


def make_split(data: RoutingData, scheme: str, *, seed: int = 0, **args: Any) -> splits.SplitSpec:
    """A split by scheme name with keyword arguments (checked against the scheme's signature)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown split scheme {scheme!r}; schemes are {sorted(SCHEMES)}")
    function = SCHEMES[scheme]
    accepted = set(inspect.signature(function).parameters) - {"data"}
    unknown = sorted(set(args) - accepted)
    if unknown:
        raise ValueError(f"split scheme {scheme!r} takes no argument {unknown}; it takes {sorted(accepted)}")
    if "seed" in accepted:
        args.setdefault("seed", seed)
    return function(data, **args)


def default_scheme(data: RoutingData) -> str:
    """``release`` when the data ships a train and a test split, else ``random``."""
    shipped = set(data.splits.tolist()) if data.splits is not None else set()
    return "release" if {"train", "test"} <= shipped else "random"


#: below this share of the queries, a shipped test split is "small": the benchmark's in-distribution default is then
#: a seeded random split by query (several seeds give several test sets), not the one small shipped test set
SMALL_TEST_SHARE = 0.15


def default_id_scheme(data: RoutingData) -> str:
    """The benchmark's in-distribution default: ``release`` when the data ships a train and a test split and the
    test split holds at least :data:`SMALL_TEST_SHARE` of the queries, else ``random`` (seeded, by query,
    stratified by task). LLMRouter's shipped test split (500 of 6,108 queries, 119 of them also in train) is small:
    the embedded data gets ``random``; ``--split-scheme release`` (``id_scheme="release"``) still gives the release."""
    if default_scheme(data) != "release" or data.splits is None:
        return "random"
    ids = data.query_ids.astype(str)
    test_ids = {q for q, s in zip(ids.tolist(), data.splits.tolist(), strict=True) if s == "test"}
    return "release" if len(test_ids) >= SMALL_TEST_SHARE * len(set(ids.tolist())) else "random"


def make_features(spec: str) -> Any:
    """A fusionbench featuriser from ``embedding``, ``tfidf``, ``tfidf:<max_features>``, ``st[:path]``."""
    from fusionbench.fusion.features import TfidfFeaturizer, make_featurizer

    if spec.startswith("tfidf:"):
        count = spec.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--features {spec!r}: tfidf:<max_features> takes a positive integer")
        return TfidfFeaturizer(max_features=int(count))
    return make_featurizer(spec)


def default_features(data: RoutingData) -> str:
    """``embedding`` when the data has stored vectors, else ``tfidf``."""
    return "embedding" if data.embeddings is not None else "tfidf"


def feature_input(featurizer: Any, data: RoutingData) -> Any:
    """What a featuriser reads from the data: stored vectors or the query texts."""
    from fusionbench.fusion.features import StoredEmbeddings

    if isinstance(featurizer, StoredEmbeddings):
        if data.embeddings is None:
            raise ValueError(f"{data.source} has no stored embeddings: use --features tfidf or st")
        return data.embeddings
    return list(data.texts)


def fit_features(spec: str | Any, train: RoutingData) -> tuple[Any, Any]:
    """(fitted featuriser, train features): fitted on the training queries only."""
    featurizer = make_features(spec) if isinstance(spec, str) else spec
    return featurizer, featurizer.fit_transform(feature_input(featurizer, train))


def transform(featurizer: Any, data: RoutingData) -> Any:
    return featurizer.transform(feature_input(featurizer, data))
