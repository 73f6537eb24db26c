"""``fusionbench finetune``: a LoRA fine-tune on ``fusionbench sft-data`` output, with TRL's ``SFTTrainer`` and PEFT.

Needs the ``sft`` extra (``pip install "fusionbench[sft]"``: trl, peft, transformers, accelerate, torch). The
examples are read from an SFT folder's ``hf/`` dataset (or an Alpaca JSON file) and given to TRL as
prompt-completion pairs, so that the loss is on the answer only. The prompt is the user turn LLaMA-Factory
builds (instruction, line break, input), passed through the tokenizer's chat template when it has one
(``chat_template=False``: the plain text). Defaults follow LLaMA-Factory's ``llama3_lora_sft.yaml`` (rank 8 on
every linear layer, learning rate 1e-4, 3 epochs, batch 1 x 8 accumulation, cosine schedule with 10% warm-up,
2,048-token cut-off). The adapter is saved with the tokenizer and a ``finetune.json`` manifest (the artifact
manifest of :mod:`fusionbench.artifacts`, ``fusionbench-finetune/1``; :func:`read_finetune` checks it, and one
written before it had a ``format`` reads as version 1); evaluate it with
``fusionbench eval --model hf --model_args pretrained=BASE,peft=ADAPTER ...``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from fusionbench.artifacts import ArtifactFormat, new_manifest, read_manifest, write_manifest
from fusionbench.files import ensure_folder, refuse_symlink

MANIFEST = "finetune.json"
#: the adapter folder's manifest (``finetune.json``)
FINETUNE_ARTIFACT = ArtifactFormat(
    "fusionbench-finetune", 1, manifest=MANIFEST, what="a fine-tuned adapter folder (fusionbench finetune)"
)
_DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class FinetuneConfig:
    """A LoRA fine-tune's settings (see the module docstring for the defaults' origin)."""

    base_model: str
    #: stop after this many optimiser steps (-1: run ``epochs`` epochs)
    max_steps: int = -1
    epochs: float = 3.0
    learning_rate: float = 1e-4
    batch_size: int = 1
    gradient_accumulation: int = 8
    warmup_ratio: float = 0.1
    scheduler: str = "cosine"
    #: examples are truncated to this many tokens (prompt + answer)
    max_length: int = 2048
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"
    dtype: str = "auto"
    chat_template: bool = True
    seed: int = 42
    logging_steps: int = 10
    #: the dataset's name in the SFT folder (its ``<name>.json``); None: the folder's ``hf/`` dataset
    dataset: str | None = None

    def check(self) -> None:
        if self.dtype not in _DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; expected one of {', '.join(_DTYPES)}")
        for name in ("batch_size", "gradient_accumulation", "max_length", "lora_r", "lora_alpha"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.max_steps == 0 or (self.max_steps < 0 and self.epochs <= 0):
            raise ValueError("nothing to train: give max_steps > 0 or epochs > 0")


@dataclass
class FinetuneResult:
    """Where the adapter went and how training went."""

    adapter: Path
    examples: int
    steps: int
    losses: list[float] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sft_data_file(data: str | Path, dataset: str | None = None) -> Path:
    """The file the examples come from: ``<SFT_DIR>/<dataset>.json``, the folder's ``hf/`` Parquet shard, or
    ``data`` itself when it is a file."""
    data = Path(data)
    if data.is_file():
        return data
    if not data.is_dir():
        raise FileNotFoundError(f"{data}: no such SFT folder or file")
    if dataset is not None:
        path = data / f"{dataset}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such dataset (names are the folder's <name>.json files)")
        return path
    shards = sorted((data / "hf" / "data").glob("*.parquet"))
    if len(shards) != 1:
        raise FileNotFoundError(
            f"{data}: expected one hf/data/*.parquet shard (found {len(shards)}); is it an SFT folder?"
        )
    return shards[0]


def load_alpaca(path: Path) -> list[dict[str, str]]:
    """Alpaca records (``instruction``, ``input``, ``output``) from a JSON list or a Parquet shard."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        records = pq.read_table(path, columns=["instruction", "input", "output"]).to_pylist()
    else:
        records = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(records, list) or not records:
        raise ValueError(f"{path}: expected a non-empty list of Alpaca records")
    for i, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("output"), str) or "instruction" not in record:
            raise ValueError(f"{path}: record {i} is not an Alpaca record (instruction, input, output)")
    return records


def prompt_completion(records: list[dict[str, str]], tokenizer: Any, chat_template: bool) -> list[dict[str, str]]:
    """TRL prompt-completion pairs: the user turn (chat-templated when asked and available) and the answer."""
    use_template = chat_template and getattr(tokenizer, "chat_template", None)
    pairs = []
    for record in records:
        user = f"{record['instruction']}\n{record['input']}" if record.get("input") else record["instruction"]
        if use_template:
            messages = [{"role": "user", "content": user}]
            user = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        pairs.append({"prompt": user, "completion": record["output"]})
    return pairs


def _versions() -> dict[str, str]:
    found = {}
    for package in ("trl", "peft", "transformers", "torch", "accelerate"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "absent"
    return found


def _warmup(config_class: type, ratio: float) -> dict[str, float]:
    """The warm-up as a ratio: ``warmup_ratio`` in transformers 4, a float ``warmup_steps`` in 5."""
    import inspect

    names = inspect.signature(config_class.__init__).parameters
    return {"warmup_ratio": ratio} if "warmup_ratio" in names else {"warmup_steps": ratio}


def finetune(data: str | Path, out: str | Path, config: FinetuneConfig, *, overwrite: bool = False) -> FinetuneResult:
    """Fine-tune ``config.base_model`` with LoRA on the examples of ``data`` and save the adapter to ``out``."""
    config.check()
    out = refuse_symlink(out, "the adapter folder")  # refused before training, not after
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    try:
        import torch
        from datasets import Dataset
        from peft import LoraConfig
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl import SFTConfig, SFTTrainer
    except ImportError as err:
        raise ImportError(f"fine-tuning needs the sft extra: pip install 'fusionbench[sft]' ({err})") from err

    source = sft_data_file(data, config.dataset)
    records = load_alpaca(source)
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset = Dataset.from_list(prompt_completion(records, tokenizer, config.chat_template))
    dtype = "auto" if config.dtype == "auto" else getattr(torch, config.dtype)
    model = AutoModelForCausalLM.from_pretrained(config.base_model, dtype=dtype)
    on_gpu = torch.cuda.is_available()
    targets = config.target_modules if isinstance(config.target_modules, str) else list(config.target_modules)
    lora = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, target_modules=targets,
        task_type="CAUSAL_LM",
    )  # fmt: skip
    arguments = SFTConfig(
        output_dir=str(out / "checkpoints"), max_steps=config.max_steps, num_train_epochs=config.epochs,
        learning_rate=config.learning_rate, per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation, **_warmup(SFTConfig, config.warmup_ratio),
        lr_scheduler_type=config.scheduler, max_length=config.max_length, completion_only_loss=True,
        logging_steps=config.logging_steps, save_strategy="no", report_to="none", seed=config.seed,
        bf16=on_gpu and model.dtype == torch.bfloat16, fp16=on_gpu and model.dtype == torch.float16,
        use_cpu=not on_gpu, dataloader_num_workers=0, dataset_num_proc=None,
    )  # fmt: skip
    trainer = SFTTrainer(
        model=model, args=arguments, train_dataset=dataset, processing_class=tokenizer, peft_config=lora
    )
    outcome = trainer.train()
    ensure_folder(out, "the adapter folder")  # a link there is refused: the saves below would follow it
    trainer.save_model(str(out))
    shutil.rmtree(out / "checkpoints", ignore_errors=True)  # save_strategy="no": nothing but empty folders
    tokenizer.save_pretrained(str(out))
    losses = [float(e["loss"]) for e in trainer.state.log_history if "loss" in e and math.isfinite(e["loss"])]
    manifest = new_manifest(
        FINETUNE_ARTIFACT,
        base_model=config.base_model,
        data=str(source),
        data_sha256=_sha256(source),
        examples=len(records),
        steps=int(outcome.global_step),
        train_loss=float(outcome.training_loss),
        logged_losses=losses,
        config=dataclasses.asdict(config),
        versions=_versions(),
        evaluate_with=f"--model hf --model_args pretrained={config.base_model},peft={out}",
    )
    write_manifest(out, FINETUNE_ARTIFACT, manifest)  # last: the adapter and tokenizer are there
    return FinetuneResult(out, len(records), int(outcome.global_step), losses, manifest)


def _legacy_finetune(found: dict[str, Any] | None) -> dict[str, Any] | None:
    """A ``finetune.json`` written before it had a ``format`` (its ``base_model`` and ``steps``): version 1."""
    if found is not None and "base_model" in found and "steps" in found:
        return {"format": f"{FINETUNE_ARTIFACT.name}/1", **found}
    return None


def read_finetune(adapter: str | Path) -> dict[str, Any]:
    """The checked ``finetune.json`` of an adapter folder: a missing, damaged or foreign one, or one of a newer
    version, is an :class:`~fusionbench.artifacts.ArtifactFormatError` naming the file."""
    return read_manifest(adapter, FINETUNE_ARTIFACT, legacy=_legacy_finetune)
