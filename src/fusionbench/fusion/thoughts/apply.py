"""``fusionbench thoughts apply``: each query's prompt augmented with the thought templates of its k nearest
neighbours among the template queries, written as a queries-like table that ``fusionbench generate --prompts``
and the lm-eval ``fusionbench_<task>_thought`` tasks read.

Retrieval: cosine similarity of the stored query embeddings (or of a named featuriser's vectors, fitted on the
template queries only), within the query's task by default. Never retrieved: the query itself (same id), or a
template whose normalised text (NFKC, case-folded, white space collapsed) equals the query's. Templates built
from the split being augmented are refused outright. A query left without any template gets a null
``prompt_thought``, counted.

::

    PROMPTS_DIR/
      prompts.parquet   the queries' columns + prompt_thought, retrieved_query_ids, retrieved_similarities,
                        templates_fingerprint
      manifest.json     templates, retrieval settings, prompt hash, counts, fingerprint
      README.md         a short card
"""

from __future__ import annotations

import hashlib
import json
import shutil
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fusionbench.artifacts import ArtifactFormat, new_manifest, read_manifest, write_manifest
from fusionbench.files import atomic_write_bytes
from fusionbench.fusion.thoughts.prompts import FUSIONFACTORY_COMMIT, THOUGHT_PROMPT_SHA256, thought_prompt
from fusionbench.fusion.thoughts.retrieval import nearest_templates
from fusionbench.fusion.thoughts.sources import read_queries
from fusionbench.fusion.thoughts.store import CARD, MANIFEST, TemplateSet, read_templates, table_bytes

PROMPTS_FILE = "prompts.parquet"
PROMPTS_FORMAT = ArtifactFormat(
    "fusionbench-thought-prompts", 1, MANIFEST, "a thought prompts folder (fusionbench thoughts apply)"
)
FORMAT = PROMPTS_FORMAT.tag
#: The columns apply adds to the queries' own.
PROMPT_COLUMNS: dict[str, pa.DataType] = {
    "prompt_thought": pa.string(),
    "retrieved_query_ids": pa.list_(pa.string()),
    "retrieved_similarities": pa.list_(pa.float32()),
    "templates_fingerprint": pa.string(),
}
PROMPT_MODES = ("direct", "cot")


def normalise_text(text: str | None) -> str:
    """NFKC, case-folded, every run of white space one space, stripped: the text two queries are equal on."""
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


@dataclass
class ApplyReport:
    """What an apply did (counts of queries and templates)."""

    out: Path
    queries: int = 0
    with_prompt: int = 0
    no_template: int = 0  # no template left to retrieve (none of the task, or every one excluded)
    no_embedding: int = 0  # the query has no stored embedding
    no_prompt_text: int = 0  # the query has no prompt in the base mode
    templates: int = 0  # templates retrieval could use
    null_templates: int = 0  # failed summaries, left out
    templates_without_embedding: int = 0
    excluded_self: int = 0  # the query itself was a template (skipped)
    excluded_same_text: int = 0  # another template with the query's normalised text (skipped)
    by_task: dict[str, int] = field(default_factory=dict)  # prompts written per task


@dataclass(frozen=True)
class PromptSet:
    """A prompts folder: the table and its manifest."""

    folder: Path
    table: pa.Table
    manifest: dict[str, Any]

    @property
    def split(self) -> str:
        """The split the prompts were made for."""
        return self.manifest["split"]

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the templates the prompts were made from."""
        return self.manifest["fingerprint"]

    @property
    def templates_name(self) -> str:
        """``<templates folder>@<templates fingerprint>``."""
        templates = self.manifest["templates"]
        return f"{Path(templates['folder']).name}@{templates['fingerprint']}"


def read_prompts_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a prompts folder written by :func:`apply_templates` (checked)."""
    manifest = read_manifest(folder, PROMPTS_FORMAT)
    if not (Path(folder) / PROMPTS_FILE).is_file():
        raise FileNotFoundError(f"{folder}: no {PROMPTS_FILE}; write it with fusionbench thoughts apply")
    return manifest


def read_prompts(folder: str | Path, columns: list[str] | None = None) -> PromptSet:
    """The prompts folder written by :func:`apply_templates` (only ``columns``, if given)."""
    manifest = read_prompts_manifest(folder)
    return PromptSet(Path(folder), pq.read_table(Path(folder) / PROMPTS_FILE, columns=columns), manifest)


def _queries_split(queries: pa.Table, source: str) -> str:
    splits = pc.unique(queries["split"]).to_pylist()
    if len(splits) != 1:
        raise ValueError(f"{source}: apply one split at a time (the queries have the splits {sorted(splits)})")
    return splits[0]


def apply_templates(
    templates: str | Path | TemplateSet,
    queries: str | Path | pa.Table,
    out: str | Path,
    *,
    split: str = "test",
    k: int = 3,
    same_task: bool = True,
    answer_tags: bool = False,
    featurizer: str = "embedding",
    prompt_mode: str = "direct",
    tasks: list[str] | None = None,
    overwrite: bool = False,
) -> ApplyReport:
    """Augment the queries of ``split`` of an export (or a queries table) with ``templates``; write ``out``."""
    if k < 1:
        raise ValueError("k must be >= 1")
    if prompt_mode not in PROMPT_MODES:
        raise ValueError(f"prompt_mode must be one of {PROMPT_MODES}, not {prompt_mode!r}")
    template_set = templates if isinstance(templates, TemplateSet) else read_templates(templates)
    if isinstance(queries, pa.Table):
        source, table = "table", queries
        if tasks is not None:
            table = table.filter(pc.is_in(table["task"], value_set=pa.array(list(tasks))))
    else:
        source, table = str(Path(queries).resolve()), read_queries(queries, split, tasks)
    if table.num_rows == 0:
        raise ValueError(f"{source}: no queries to apply the templates to")
    split = _queries_split(table, source)
    if template_set.split == split:
        raise ValueError(
            f"{template_set.folder}: the templates were built from the {split!r} split, the split being augmented; "
            "build them from another split (train) so that no query is guided by its own responses"
        )
    column = f"prompt_{prompt_mode}"
    if column not in table.column_names:
        raise ValueError(f"{source}: the queries have no {column!r} column")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
        shutil.rmtree(out)
    report = ApplyReport(out, queries=table.num_rows)
    usable = template_set.table.filter(pc.is_valid(template_set.table["template"]))
    report.null_templates = template_set.table.num_rows - usable.num_rows
    found = nearest_templates(
        table,
        usable,
        k=k,
        same_task=same_task,
        featurizer=featurizer,
        normalise=normalise_text,
        names=(source, str(template_set.folder)),
    )
    report.templates = found.templates
    report.templates_without_embedding = found.templates_without_embedding
    report.excluded_self, report.excluded_same_text = found.excluded_self, found.excluded_same_text
    questions = usable["question"].to_pylist()
    texts = usable["template"].to_pylist()
    template_ids = usable["query_id"].to_pylist()
    base = table[column].to_pylist()
    prompts: list[str | None] = [None] * table.num_rows
    ids: list[list[str] | None] = [None] * table.num_rows
    sims: list[list[float] | None] = [None] * table.num_rows
    for i, (neighbours, scores) in enumerate(zip(found.indices, found.similarities, strict=True)):
        if base[i] is None:
            report.no_prompt_text += 1
        elif found.no_features[i]:
            report.no_embedding += 1
        elif not neighbours:
            report.no_template += 1
        else:
            examples = [(questions[j], texts[j]) for j in neighbours]
            prompts[i] = thought_prompt(base[i], examples, answer_tags=answer_tags)
            ids[i], sims[i] = [template_ids[j] for j in neighbours], scores
    report.with_prompt = sum(p is not None for p in prompts)
    for task, prompt in zip(table["task"].to_pylist(), prompts, strict=True):
        report.by_task[task] = report.by_task.get(task, 0) + (prompt is not None)
    new = {
        "prompt_thought": prompts,
        "retrieved_query_ids": ids,
        "retrieved_similarities": sims,
        "templates_fingerprint": [template_set.fingerprint] * table.num_rows,
    }
    table = table.drop_columns([c for c in PROMPT_COLUMNS if c in table.column_names])
    for name, type_ in PROMPT_COLUMNS.items():
        table = table.append_column(pa.field(name, type_), pa.array(new[name], type_))
    digest = hashlib.sha256("\n".join(json.dumps(p) for p in prompts).encode("utf-8")).hexdigest()[:16]
    manifest = new_manifest(
        PROMPTS_FORMAT,
        queries=source,
        split=split,
        templates={
            "folder": str(template_set.folder.resolve()),
            "fingerprint": template_set.fingerprint,
            "split": template_set.split,
            **{key: template_set.manifest["settings"].get(key) for key in ("summarizer_model", "prompt_hash")},
            "selection": template_set.manifest["settings"].get("selection"),
        },
        retrieval={"k": k, "same_task": same_task, "featurizer": found.featurizer_spec, "prompt_mode": prompt_mode},
        answer_tags=answer_tags,
        thought_prompt_sha256=THOUGHT_PROMPT_SHA256[answer_tags],
        fusionfactory_commit=FUSIONFACTORY_COMMIT,
        counts={key: value for key, value in asdict(report).items() if key not in ("out", "by_task")},
        by_task=report.by_task,
        fingerprint=digest,
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / PROMPTS_FILE, table_bytes(table))
    write_manifest(out, PROMPTS_FORMAT, manifest)
    atomic_write_bytes(out / CARD, _card(manifest).encode("utf-8"))
    return report


def _card(manifest: dict[str, Any]) -> str:
    counts, templates, retrieval = manifest["counts"], manifest["templates"], manifest["retrieval"]
    lines = [
        "# Thought prompts (fusionbench thoughts apply)",
        "",
        f"The {manifest['split']!r} queries of `{manifest['queries']}`, each {retrieval['prompt_mode']} prompt "
        f"augmented with the templates of its {retrieval['k']} nearest template queries "
        f"({'same task' if retrieval['same_task'] else 'any task'}, cosine on {retrieval['featurizer']['kind']}), "
        f"from `{templates['folder']}` (fingerprint `{templates['fingerprint']}`, split {templates['split']!r}, "
        f"summarised by `{templates['summarizer_model']}`). FusionFactory's wording (SHA-256 "
        f"`{manifest['thought_prompt_sha256']}`), {'with' if manifest['answer_tags'] else 'without'} its "
        "<answer>-tag sentence.",
        "",
        f"{counts['with_prompt']:,} of {counts['queries']:,} queries have a thought prompt; without one: "
        f"{counts['no_template']:,} (no template to retrieve), {counts['no_embedding']:,} (no embedding), "
        f"{counts['no_prompt_text']:,} (no base prompt). Skipped templates: the query itself "
        f"{counts['excluded_self']:,} times, the same text {counts['excluded_same_text']:,} times.",
        "",
        "Generate with: `fusionbench generate --prompts THIS_DIR --modes thought ...`; evaluate with lm-eval: "
        '`fusionbench eval --tasks fusionbench_thought --metadata \'{"fusionbench_prompts": "THIS_DIR"}\' ...`.',
        "",
    ]
    return "\n".join(lines)
