"""Named, seeded, leakage-safe splits of RoutingData by ``query_id``.

A :class:`SplitSpec` lists the train, validation and test query ids of one scheme and is saved as JSON (in an
export: ``splits/<name>.json``, listed in the card by :func:`write_to_export`). Schemes:

* :func:`release`: the shipped train/test, minus every test query whose id or normalised text is in train;
* :func:`random`: a seeded split stratified by task (or domain), with a validation part;
* :func:`task_ood`: held-out tasks or a whole domain as test (Bench-CoE's out-of-distribution scenario);
* :func:`lomo`: leave one model out, optionally with k labelled train queries (GraphRouter's new-LLM setting);
* :func:`naive`: train = test (Bench-CoE's naive scenario): transductive, for labelled benchmark runs only.

Queries whose normalised texts are equal always land on the same side, so the leakage check
(:mod:`fusionbench.fusion.leakage`) passes on every scheme but ``naive``. A scheme that would leave a task or
a part empty raises :class:`SplitError` naming it. :func:`apply` turns a spec into (train, val, test) data.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fusionbench.artifacts import ArtifactFormat, ArtifactFormatError, check_manifest, read_manifest, write_manifest
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.leakage import check_leakage, normalized_texts

SPLIT_FORMAT = ArtifactFormat("fusionbench-split", 1, manifest="", what="a fusionbench split file")
FORMAT = SPLIT_FORMAT.tag
SCHEMES = ("release", "random", "task_ood", "lomo", "naive")
SPLITS_DIR = "splits"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SplitError(ValueError):
    """A split that cannot be made as asked (a task or a part would be empty, unknown task or model...)."""


class SplitFormatError(SplitError, ArtifactFormatError):
    """A file that is not a split file of a version this fusionbench reads (names the file and what it found)."""


@dataclass(frozen=True)
class SplitSpec:
    """One named split: the query ids of each part and what made them (``scheme``, ``seed``, ``meta``)."""

    name: str
    scheme: str
    seed: int | None
    train_ids: tuple[str, ...]
    val_ids: tuple[str, ...]
    test_ids: tuple[str, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise SplitError(f"split name {self.name!r}: use letters, digits, '_', '.', '-'")
        if self.scheme not in SCHEMES:
            raise SplitError(f"unknown scheme {self.scheme!r}; schemes are {list(SCHEMES)}")
        for part in ("train_ids", "val_ids", "test_ids"):
            object.__setattr__(self, part, tuple(str(q) for q in getattr(self, part)))
        overlap = (set(self.train_ids) | set(self.val_ids)) & set(self.test_ids)
        if overlap and self.scheme != "naive":
            raise SplitError(f"split {self.name!r}: {len(overlap)} ids are in test and in train/val")

    @property
    def transductive(self) -> bool:
        """True for ``naive`` (train = test): every number on it must be labelled transductive."""
        return bool(self.meta.get("transductive"))

    def counts(self) -> dict[str, int]:
        """The number of queries in train, val and test."""
        return {"train": len(self.train_ids), "val": len(self.val_ids), "test": len(self.test_ids)}

    def payload(self) -> dict[str, Any]:
        """The split file's JSON object (its own manifest: ``format`` first)."""
        payload = {"format": FORMAT, "name": self.name, "scheme": self.scheme, "seed": self.seed}
        payload |= {"counts": self.counts(), "meta": dict(self.meta)}
        return payload | {
            "train_ids": list(self.train_ids),
            "val_ids": list(self.val_ids),
            "test_ids": list(self.test_ids),
        }

    def to_json(self) -> str:
        """The split as JSON text."""
        return json.dumps(self.payload(), indent=1, sort_keys=False)

    @classmethod
    def _from_payload(cls, payload: dict[str, Any]) -> SplitSpec:
        fields = ("name", "scheme", "seed", "train_ids", "val_ids", "test_ids", "meta")
        return cls(**{key: payload[key] for key in fields})

    @classmethod
    def from_json(cls, text: str, where: str = "<split JSON>") -> SplitSpec:
        """The split of a split file's text (:class:`SplitFormatError` naming ``where`` when it is not one)."""
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as err:
            raise SplitFormatError(where, f"damaged JSON ({err.msg}); expected a split file", line=err.lineno) from None
        return cls._from_payload(check_manifest(payload, SPLIT_FORMAT, where, error=SplitFormatError))

    def save(self, path: str | Path) -> Path:
        """Write the split file (with its manifest) atomically to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_manifest(path, SPLIT_FORMAT, self.payload())  # atomic, never through a link
        return path

    @classmethod
    def load(cls, path: str | Path) -> SplitSpec:
        """The split saved at ``path`` (format checked: :class:`SplitFormatError` naming the file)."""
        return cls._from_payload(read_manifest(path, SPLIT_FORMAT, error=SplitFormatError))


# ---- helpers ----------------------------------------------------------------------------------------
def _first_rows(data: RoutingData) -> np.ndarray:
    """The first row of each query id (a query in both shipped splits counts once, its first copy)."""
    _, first = np.unique(data.query_ids.astype(str), return_index=True)
    return np.sort(first)


def _groups(data: RoutingData, rows: np.ndarray) -> list[list[int]]:
    """Rows grouped by normalised text (rows without text alone), in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for row, norm in zip(rows.tolist(), normalized_texts(data.texts[rows]), strict=True):
        groups.setdefault(norm if norm is not None else f"\x00{row}", []).append(row)
    return list(groups.values())


def _allocate(sizes: Sequence[int], fraction: float, minimum: int, caps: Sequence[int]) -> list[int]:
    """Counts per stratum summing to round(fraction x total), each in [minimum, cap], by largest remainder."""
    if fraction <= 0:
        return [0] * len(sizes)
    quotas = [fraction * s for s in sizes]
    counts = [min(max(math.floor(q), minimum), cap) for q, cap in zip(quotas, caps, strict=True)]
    target = max(round(fraction * sum(sizes)), sum(counts))
    order = sorted(range(len(sizes)), key=lambda i: (counts[i] - quotas[i], i))
    while sum(counts) < target:
        room = [i for i in order if counts[i] < caps[i]]
        if not room:
            break
        counts[room[0]] += 1
        order = sorted(range(len(sizes)), key=lambda i: (counts[i] - quotas[i], i))
    return counts


def _stratified(
    data: RoutingData, groups: list[list[int]], test_size: float, val_size: float, seed: int, stratify: str | None
) -> tuple[list[int], list[int], list[int]]:
    """(train, val, test) rows: groups shuffled per stratum, every stratum in train and (if asked) in test."""
    if not (0 <= test_size < 1 and 0 <= val_size < 1 and test_size + val_size < 1):
        raise SplitError(f"test_size {test_size} and val_size {val_size} must be in [0, 1) with a sum below 1")
    labels = {"task": data.tasks, "domain": data.domains, None: np.full(data.n_queries, "all", dtype=object)}
    if stratify not in labels:
        raise SplitError(f"stratify must be 'task', 'domain' or None, not {stratify!r}")
    strata: dict[str, list[list[int]]] = {}
    for group in groups:
        strata.setdefault(str(labels[stratify][group[0]]), []).append(group)
    rng = np.random.default_rng(seed)
    names = list(strata)
    sizes = [len(strata[s]) for s in names]
    too_small = [f"{s!r} ({n} queries)" for s, n in zip(names, sizes, strict=True) if n < 2 and test_size > 0]
    if too_small:
        raise SplitError(
            f"stratum {', '.join(too_small)} is too small for train and test; use stratify=None or drop it"
        )
    n_test = _allocate(sizes, test_size, 1 if test_size > 0 else 0, [n - 1 for n in sizes])
    n_val = _allocate(sizes, val_size, 0, [n - t - 1 for n, t in zip(sizes, n_test, strict=True)])
    if val_size > 0 and sum(n_val) == 0:
        raise SplitError(f"val_size={val_size} leaves the validation part empty ({sum(sizes)} queries)")
    train, val, test = [], [], []
    for name, t, v in zip(names, n_test, n_val, strict=True):
        order = rng.permutation(len(strata[name]))
        shuffled = [strata[name][i] for i in order]
        test += [r for g in shuffled[:t] for r in g]
        val += [r for g in shuffled[t : t + v] for r in g]
        train += [r for g in shuffled[t + v :] for r in g]
    return sorted(train), sorted(val), sorted(test)


def _ids(data: RoutingData, rows: Iterable[int]) -> tuple[str, ...]:
    return tuple(str(data.query_ids[r]) for r in rows)


def _require(parts: Mapping[str, Sequence[Any]], name: str) -> None:
    empty = [part for part, ids in parts.items() if len(ids) == 0]
    if empty:
        raise SplitError(f"split {name!r} leaves {' and '.join(empty)} empty")


# ---- schemes ----------------------------------------------------------------------------------------
def release(data: RoutingData, *, val_size: float = 0.0, seed: int = 0, name: str = "release") -> SplitSpec:
    """The shipped train/test split minus the test queries whose id or normalised text is in train."""
    if data.splits is None:
        raise SplitError(f"{data.source}: the data has no shipped splits; use random() or task_ood()")
    train, test = data.split("train"), data.split("test")
    _require({"train": train.query_ids, "test": test.query_ids}, name)
    leakage = check_leakage(train, test)
    train_rows = np.flatnonzero(data.splits == "train")
    val_rows: list[int] = []
    if val_size > 0:
        tr, val_rows, _ = _stratified(data, _groups(data, train_rows), 0.0, val_size, seed, "task")
        train_rows = np.array(tr)
    meta = {
        "source": data.source,
        "shipped_train": train.n_queries,
        "shipped_test": test.n_queries,
        "removed_from_test": len(leakage.leaked_ids),
        "removed_by_id": len(leakage.id_overlap),
        "removed_by_text": len(leakage.text_overlap),
        "removed_ids": list(leakage.leaked_ids),
        "row_selection": "shipped split",
    }
    spec = SplitSpec(
        name,
        "release",
        seed if val_size > 0 else None,
        _ids(data, train_rows),
        _ids(data, val_rows),
        leakage.clean_ids,
        meta,
    )
    _require({"train": spec.train_ids, "test": spec.test_ids}, name)
    return spec


def random(
    data: RoutingData,
    test_size: float = 0.2,
    val_size: float = 0.1,
    seed: int = 0,
    stratify: Literal["task", "domain"] | None = "task",
    name: str | None = None,
) -> SplitSpec:
    """A seeded random split stratified by ``stratify`` (every task in train and test), with validation."""
    rows = _first_rows(data)
    train, val, test = _stratified(data, _groups(data, rows), test_size, val_size, seed, stratify)
    meta = {"source": data.source, "test_size": test_size, "val_size": val_size, "stratify": stratify}
    meta["duplicate_rows_skipped"] = data.n_queries - len(rows)
    spec = SplitSpec(
        name or f"random-{seed}", "random", seed, _ids(data, train), _ids(data, val), _ids(data, test), meta
    )
    _require({"train": spec.train_ids, "test": spec.test_ids}, spec.name)
    return spec


def task_ood(
    data: RoutingData,
    holdout_tasks: Sequence[str] | None = None,
    domain: str | None = None,
    val_size: float = 0.1,
    seed: int = 0,
    name: str | None = None,
) -> SplitSpec:
    """Test = every query of ``holdout_tasks`` (or of the tasks of ``domain``); routers never see them."""
    if (holdout_tasks is None) == (domain is None):
        raise SplitError("give exactly one of holdout_tasks or domain")
    present = list(dict.fromkeys(data.tasks.tolist()))
    if domain is not None:
        held = sorted({t for t, d in zip(data.tasks, data.domains, strict=True) if d == domain})
        if not held:
            raise SplitError(f"no task of domain {domain!r}; domains are {sorted(set(data.domains.tolist()))}")
    else:
        held = list(holdout_tasks or [])
        unknown = [t for t in held if t not in present]
        if unknown or not held:
            raise SplitError(f"holdout tasks {unknown or held} are not in the data; tasks are {present}")
    rows = _first_rows(data)
    is_test = np.isin(data.tasks[rows].astype(str), held)
    test_rows = rows[is_test]
    test_texts = {t for t in normalized_texts(data.texts[test_rows]) if t is not None}
    pool = [
        r
        for r, norm in zip(rows[~is_test].tolist(), normalized_texts(data.texts[rows[~is_test]]), strict=True)
        if norm not in test_texts
    ]
    dropped = int((~is_test).sum()) - len(pool)
    _require({"train": pool, "test": test_rows.tolist()}, name or "task_ood")
    train, val, _ = _stratified(data, _groups(data, np.array(pool)), 0.0, val_size, seed, "task")
    meta = {"source": data.source, "holdout_tasks": held, "domain": domain, "val_size": val_size}
    meta |= {"train_dropped_text_in_test": dropped, "scenario": "out-of-distribution (Bench-CoE)"}
    label = name or f"task_ood-{domain or '+'.join(held)}"
    return SplitSpec(label, "task_ood", seed, _ids(data, train), _ids(data, val), _ids(data, test_rows.tolist()), meta)


def lomo(
    data: RoutingData,
    model: str,
    k_shot: int = 0,
    seed: int = 0,
    *,
    test_size: float = 0.2,
    val_size: float = 0.0,
    base: SplitSpec | None = None,
    name: str | None = None,
    unseen: Literal["drop", "mask"] = "drop",
) -> SplitSpec:
    """Leave ``model`` (all its modes) out of train and val, except ``k_shot`` labelled train queries; test
    keeps every candidate. The query split is ``base`` (default: :func:`random` with these sizes). With
    ``k_shot=0`` the new candidates are dropped from train and val (``unseen="drop"``), or kept as all-NaN
    columns (``"mask"``) for a router that learns from a partly observed matrix and so can estimate a
    candidate it never saw (``MFRouter(missing="mask")``: the population prior)."""
    if unseen not in ("drop", "mask"):
        raise SplitError(f"unseen must be 'drop' or 'mask', not {unseen!r}")
    new = [c.name for c in data.candidate_info if model in (c.model, c.name)]
    if not new:
        raise SplitError(f"no candidate of model {model!r}; models are {sorted(set(data.models))}")
    if len(new) == data.n_candidates:
        raise SplitError(f"{model!r} is the only model: nothing would be left to train on")
    base = base or random(data, test_size=test_size, val_size=val_size, seed=seed, name=f"lomo-base-{seed}")
    k_ids: list[str] = []
    if k_shot > 0:
        position: dict[str, int] = {}
        for i, q in enumerate(data.query_ids.astype(str).tolist()):
            position.setdefault(q, i)  # a query's first row, as apply() takes it
        cols = [data.candidates.index(c) for c in new]
        labelled = [q for q in base.train_ids if not np.isnan(data.performance[position[q], cols]).any()]
        if len(labelled) < k_shot:
            raise SplitError(f"k_shot={k_shot} but only {len(labelled)} train queries have labels of {model!r}")
        pick = np.random.default_rng(seed).choice(len(labelled), size=k_shot, replace=False)
        k_ids = [labelled[i] for i in sorted(pick.tolist())]
    meta = {**base.meta, "base": base.name, "held_out_model": model, "new_candidates": new}
    meta |= {"k_shot": k_shot, "k_shot_ids": k_ids, "unseen": unseen}
    label = name or f"lomo-{re.sub(r'[^A-Za-z0-9_.-]+', '_', model)}-k{k_shot}-{seed}"
    return SplitSpec(label, "lomo", seed, base.train_ids, base.val_ids, base.test_ids, meta)


def naive(data: RoutingData, name: str = "naive") -> SplitSpec:
    """Train = test = every query (Bench-CoE's naive scenario). Transductive: only a benchmark run that labels
    every number "transductive" may use it (the evaluation layer enforces that)."""
    ids = _ids(data, _first_rows(data))
    meta = {"source": data.source, "transductive": True, "warning": "train = test: numbers are transductive"}
    return SplitSpec(name, "naive", None, ids, (), ids, meta)


# ---- using a spec -----------------------------------------------------------------------------------
def _rows(data: RoutingData, ids: Sequence[str], shipped: str | None, part: str, spec: SplitSpec) -> RoutingData:
    keys = data.query_ids.astype(str)
    mask = np.zeros(data.n_queries, dtype=bool) if shipped is None else data.splits == shipped
    if shipped is None:
        mask[_first_rows(data)] = True
    position = {q: i for q, i in zip(keys[mask].tolist(), np.flatnonzero(mask).tolist(), strict=True)}
    missing = [q for q in ids if q not in position]
    if missing:
        raise SplitError(f"split {spec.name!r}: {len(missing)} {part} ids are not in {data.source}, e.g. {missing[:3]}")
    chosen = data.take([position[q] for q in ids])
    tags = {"split": spec.name, "part": part, "scheme": spec.scheme, "transductive": spec.transductive}
    return dataclasses.replace(chosen, provenance={**chosen.provenance, **tags})


def apply(data: RoutingData, spec: SplitSpec) -> tuple[RoutingData, RoutingData, RoutingData]:
    """(train, val, test) RoutingData of ``spec``. ``release`` takes train rows from the shipped train and test
    rows from the shipped test; the others take each query's first row. ``lomo`` hides the new candidates
    in train and val (NaN outside the k labelled train queries; with k_shot 0 dropped, or all NaN under
    ``unseen="mask"``)."""
    release_rows = spec.scheme == "release"
    train = _rows(data, spec.train_ids, "train" if release_rows else None, "train", spec)
    val = _rows(data, spec.val_ids, "train" if release_rows else None, "val", spec)
    test = _rows(data, spec.test_ids, "test" if release_rows else None, "test", spec)
    if spec.scheme == "lomo":
        new = list(spec.meta["new_candidates"])
        if spec.meta.get("k_shot", 0) == 0 and spec.meta.get("unseen", "drop") == "drop":
            train, val = train.without_candidates(new), val.without_candidates(new)
        else:
            k_ids = set(spec.meta.get("k_shot_ids", ()))
            train = train.masked(new, np.isin(train.query_ids.astype(str), list(k_ids)))
            val = val.masked(new, np.zeros(val.n_queries, dtype=bool))
    return train, val, test


# ---- splits stored in an export ---------------------------------------------------------------------
def write_to_export(export: str | Path, spec: SplitSpec) -> Path:
    """Save ``spec`` as ``<export>/splits/<name>.json`` and list every saved split in the card."""
    from fusionbench.export import card
    from fusionbench.export.folder import README, require_export, rewrite

    export = require_export(Path(export))
    with rewrite(export, refresh_card=False) as staging:
        spec.save(staging / SPLITS_DIR / f"{spec.name}.json")
        rows = [
            f"| `{s.name}` | {s.scheme} | {s.seed if s.seed is not None else '—'} | "
            f"{s.counts()['train']:,} | {s.counts()['val']:,} | {s.counts()['test']:,} | `{SPLITS_DIR}/{s.name}.json` |"
            for s in list_splits(staging).values()
        ]
        body = (
            "Named query-level splits (by `query_id`; load with `fusionbench.fusion.splits.SplitSpec.load`). "
            "`naive` is transductive (train = test).\n\n| name | scheme | seed | train | val | test | file |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
        )
        readme = staging / README
        readme.write_text(
            card.replace_section(readme.read_text(encoding="utf-8"), "Splits", body, "Checksums"), "utf-8"
        )
    return export / SPLITS_DIR / f"{spec.name}.json"


def list_splits(export: str | Path) -> dict[str, SplitSpec]:
    """The splits saved in an export, by name."""
    folder = Path(export) / SPLITS_DIR
    return {p.stem: SplitSpec.load(p) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
