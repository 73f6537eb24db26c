"""Converters of public routing datasets to :class:`~fusionbench.fusion.data.RoutingData`, and back out to
fusionbench's canonical tables and export folders.

``from_external(kind, path, **options)`` dispatches on ``kind``:

========================  ==========================================================  ====================
kind                      input                                                       module
========================  ==========================================================  ====================
``routerbench``           RouterBench wide CSV (pickle only with ``trust=True``)      :mod:`.routerbench`
``llmrouter``             LLMRouter / RouterDC ``data/`` (JSON scores + query JSONL)  :mod:`.llmrouter`
``routellm-mmlu``         RouteLLM ``evals/mmlu`` caches                              :mod:`.routellm`
``routellm-gsm8k``        RouteLLM ``evals/gsm8k`` responses                          :mod:`.routellm`
``routellm-mt_bench``     RouteLLM ``evals/mt_bench`` GPT-4 judgements                :mod:`.routellm`
``gsm8k-solutions``       OpenAI's ``example_model_solutions.jsonl``                  :mod:`.gsm8k_solutions`
``alpacaeval2``           AlpacaEval 2.0 preference matrix (57 models x 805 items)    :mod:`.alpacaeval`
``wide``                  any wide table: text, task, ``score:<model>`` (+ cost/tokens)  :mod:`.wide`
========================  ==========================================================  ====================

Every converter returns RoutingData whose ``provenance`` names the files and counts what was skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

#: kind -> (module, function)
CONVERTERS: dict[str, tuple[str, str]] = {
    "routerbench": ("routerbench", "convert"),
    "llmrouter": ("llmrouter", "convert"),
    "routerdc": ("llmrouter", "convert"),
    "routellm-mmlu": ("routellm", "convert_mmlu"),
    "routellm-gsm8k": ("routellm", "convert_gsm8k"),
    "routellm-mt_bench": ("routellm", "convert_mt_bench"),
    "gsm8k-solutions": ("gsm8k_solutions", "convert"),
    "alpacaeval2": ("alpacaeval", "convert"),
    "wide": ("wide", "convert"),
}


def converter(kind: str) -> Callable[..., Any]:
    """The conversion function of ``kind`` (a key of :data:`CONVERTERS`)."""
    key = kind.strip().lower().replace("mt-bench", "mt_bench")
    if key not in CONVERTERS:
        raise ValueError(f"unknown external format {kind!r}; known: {sorted(CONVERTERS)}")
    module, function = CONVERTERS[key]
    return getattr(import_module(f"{__name__}.{module}"), function)


def from_external(kind: str, path: str | Path, **options: Any) -> Any:
    """RoutingData of a public routing dataset of format ``kind`` at ``path``; ``options`` go to its converter
    (e.g. ``decontaminate=False`` for RouteLLM, ``trust=True`` for a RouterBench pickle)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    return converter(kind)(path, **options)


__all__ = ["CONVERTERS", "converter", "from_external"]
