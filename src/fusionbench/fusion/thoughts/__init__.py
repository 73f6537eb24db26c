"""Thought-level fusion (FusionFactory's ``thought_level/``): thought templates from the top responses of a
training split, and queries' prompts augmented with the templates of their nearest neighbours.

* :func:`build_templates` (``fusionbench thoughts build``): selection (:mod:`.selection`), a summariser
  (:class:`ExtractiveSummarizer` here, the LLM one in :mod:`fusionbench.generation.thoughts`), a resumable
  templates folder (:mod:`.store`);
* :func:`apply_templates` (``fusionbench thoughts apply``): retrieval (:mod:`.retrieval`) and the prompts folder
  that ``fusionbench generate --prompts`` and the lm-eval ``fusionbench_<task>_thought`` tasks read;
* :mod:`.prompts`: FusionFactory's two prompts, verbatim, with their SHA-256.

Data in, data out: nothing here drives an LLM.
"""

from __future__ import annotations

from fusionbench._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "build_templates": "fusionbench.fusion.thoughts.build",
    "BuildReport": "fusionbench.fusion.thoughts.build",
    "apply_templates": "fusionbench.fusion.thoughts.apply",
    "ApplyReport": "fusionbench.fusion.thoughts.apply",
    "read_prompts": "fusionbench.fusion.thoughts.apply",
    "PromptSet": "fusionbench.fusion.thoughts.apply",
    "read_templates": "fusionbench.fusion.thoughts.store",
    "TemplateSet": "fusionbench.fusion.thoughts.store",
    "TemplatesSettingsError": "fusionbench.fusion.thoughts.store",
    "TemplatesIncompleteError": "fusionbench.fusion.thoughts.store",
    "TemplatesLockedError": "fusionbench.fusion.thoughts.store",
    "EmbeddingDimensionError": "fusionbench.fusion.thoughts.retrieval",
    "ExtractiveSummarizer": "fusionbench.fusion.thoughts.summarizers",
    "Summarizer": "fusionbench.fusion.thoughts.summarizers",
    "SummaryRequest": "fusionbench.fusion.thoughts.summarizers",
    "SelectionSettings": "fusionbench.fusion.thoughts.selection",
    "select_responses": "fusionbench.fusion.thoughts.selection",
    "resolve_pool": "fusionbench.fusion.thoughts.selection",
    "small_models": "fusionbench.fusion.thoughts.selection",
    "ThoughtSource": "fusionbench.fusion.thoughts.sources",
    "from_export": "fusionbench.fusion.thoughts.sources",
    "from_routing_data": "fusionbench.fusion.thoughts.sources",
    "read_queries": "fusionbench.fusion.thoughts.sources",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
