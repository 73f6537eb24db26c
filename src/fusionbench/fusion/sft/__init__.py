"""Model level: supervised fine-tuning data from the logs (``fusionbench sft-data``).

Pure data: an export in, Alpaca / ShareGPT JSON, LLaMA-Factory's ``dataset_info.json``, a Hugging Face dataset
folder, a provenance table and a report out. Fine-tuning itself (it drives a model) is
:mod:`fusionbench.generation.finetune`. Modules: :mod:`.source` (reading a split), :mod:`.references` (code
reference solutions), :mod:`.selection` (the default protocol), :mod:`.fusionfactory` (the original protocol),
:mod:`.lengths` (token counts), :mod:`.writers`, :mod:`.report`, :mod:`.pipeline` (``make_sft_data``).
"""

from __future__ import annotations

from fusionbench.fusion.sft.examples import INSTRUCTION, Example
from fusionbench.fusion.sft.pipeline import SFTOptions, SFTResult, make_sft_data, select_examples
from fusionbench.fusion.sft.report import SFTReport
from fusionbench.fusion.sft.source import TestSplitRefusedError

__all__ = [
    "INSTRUCTION",
    "Example",
    "SFTOptions",
    "SFTReport",
    "SFTResult",
    "TestSplitRefusedError",
    "make_sft_data",
    "select_examples",
]
