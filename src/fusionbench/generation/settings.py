"""Settings of a generation run: sampling (the release's defaults), the query shard, and the run's identity."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fusionbench.schema import MODES, RELEASE_MODES, SPLIT_ALIASES, TASKS

ENGINES: tuple[str, ...] = ("vllm", "hf", "openai", "ray")
#: Where the queries come from when no ``--export`` is given.
EMBEDDED_SAMPLE = "embedded-sample"
#: Requests per shard (and, for hf, per ``generate`` call) when ``batch_size`` is not given.
DEFAULT_BATCH_SIZE: dict[str, int] = {"vllm": 512, "hf": 8, "openai": 256, "ray": 64}
#: Identity keys of older run.json files that are runtime settings now (a run of any engine resumes any other's).
FORMER_IDENTITY_KEYS = ("engine",)


@dataclass(frozen=True)
class SamplingSettings:
    """How each (query, mode) is sampled: the release used temperature 0.2, top_p 0.7, 1024 new tokens, 1 sample."""

    temperature: float = 0.2
    top_p: float = 0.7
    max_new_tokens: int = 1024
    samples: int = 1  # K completions per (query, mode), requested together (vLLM n=K, HF num_return_sequences=K)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.samples < 1 or self.max_new_tokens < 1:
            raise ValueError("samples and max_new_tokens must be >= 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` of ``count``: the queries whose stable hash of query_id is ``index`` modulo ``count``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"bad shard {self.index}/{self.count}: need 0 <= i < n")

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        """``'i/n'`` -> ShardSpec(i, n)."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(f"bad shard {text!r}: expected i/n, e.g. 0/4") from None
        return cls(index, count)

    def contains(self, query_id: str) -> bool:
        """True when ``query_id`` belongs to this shard (the same answer on every machine and run)."""
        return stable_hash(query_id) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def stable_hash(*parts: object) -> int:
    """A 64-bit hash of ``parts`` that does not change between processes (unlike ``hash``)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def request_seed(seed: int, query_id: str, mode: str, first_sample: int) -> int:
    """The seed of one request, from the run seed and the request (the hf engine seeds each batch with its
    first request's seed; vLLM seeds its engine with the run seed)."""
    return stable_hash(seed, query_id, mode, first_sample) % (2**31 - 1)


@dataclass
class GenerationSettings:
    """Everything ``fusionbench generate`` needs; :meth:`identity` is what a rerun into the same folder must match."""

    model: str  # Hub id or local path of the model (and of its tokenizer unless ``tokenizer`` is given)
    name: str  # the model's name in the responses' ``model`` column
    out: Path  # the run folder
    engine: str = "vllm"
    tasks: tuple[str, ...] | None = None  # None: every task
    modes: tuple[str, ...] | None = None  # None: ("thought",) with prompts, else the release's direct and cot
    split: str | None = None  # None: the tiny set's split with ``tiny``, else test
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    limit: int | None = None  # at most this many queries per task (before sharding)
    prices: str | None = None  # price sheet name or JSON path
    export: str | None = None  # export folder or Hub id holding the queries table (None: the embedded sample)
    prompts: str | None = None  # a `fusionbench thoughts apply` folder: its queries, with prompt_thought
    shard: ShardSpec = field(default_factory=ShardSpec)
    tokenizer: str | None = None
    batch_size: int | None = None  # requests per shard (None: DEFAULT_BATCH_SIZE of the engine)
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    data_parallel_size: int = 1  # engine replicas; > 1 runs them as a Ray Data actor pool (needs ray)
    distributed_executor_backend: str | None = None  # "ray" for multi-node serving (see README.md)
    dtype: str = "auto"
    max_model_len: int | None = None
    enforce_eager: bool = False
    engine_kwargs: dict[str, Any] = field(default_factory=dict)  # more ``vllm.LLM`` keyword arguments
    workers: int | None = None  # parallel code sandboxes for scoring
    flush_interval_s: float = 120.0  # also write a shard when this long has passed since the last one
    base_url: str | None = None  # openai: the server's /v1 URL (a `vllm serve` fleet behind a load balancer)
    api_key_env: str = "OPENAI_API_KEY"  # openai: the environment variable holding the key (unset: no key)
    concurrency: int = 8  # openai: requests in flight at most
    max_retries: int = 4  # openai: retries of a request (429, 5xx, timeouts) with exponential backoff
    request_timeout_s: float = 600.0  # openai: seconds per HTTP request
    ray_address: str | None = None  # ray: the cluster (None: the one `ray start` made here, else a local one)
    ray_engine: str | None = None  # ray: the engine inside the pipeline (None: vllm when installed, else hf)
    progress: bool = True
    tiny: str | None = None  # a `fusionbench tiny build` folder: only its anchors (their rows ingest as anchors)
    tiny_info: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.tiny_info = read_tiny_set(self.tiny) if self.tiny else None
        if self.split is None:
            self.split = (self.tiny_info or {}).get("split") or "test"
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; expected one of {', '.join(ENGINES)}")
        unknown = set(self.tasks or ()) - set(TASKS)
        if unknown:
            raise ValueError(f"unknown task(s) {', '.join(sorted(unknown))}; expected some of {', '.join(TASKS)}")
        self.tasks = tuple(t for t in TASKS if t in self.tasks) if self.tasks else None
        if self.modes is None:
            self.modes = ("thought",) if self.prompts else RELEASE_MODES
        modes = set(self.modes)
        if not modes or modes - set(MODES):
            raise ValueError(f"bad mode(s) {sorted(modes)}; expected some of {', '.join(MODES)}")
        self.modes = tuple(m for m in MODES if m in modes)
        if "thought" in modes and not self.prompts:
            raise ValueError(
                "mode thought needs the prompts of `fusionbench thoughts apply` (--prompts DIR, prompts=DIR)"
            )
        if self.prompts and self.export:
            raise ValueError("give --prompts or --export, not both: a prompts folder holds its export's queries")
        if self.split not in SPLIT_ALIASES:
            raise ValueError(f"unknown split {self.split!r}; expected one of {', '.join(SPLIT_ALIASES)}")
        self.split = SPLIT_ALIASES[self.split]
        if self.tiny_info and self.tiny_info["split"] and self.split != self.tiny_info["split"]:
            raise ValueError(
                f"the anchors of the tiny set {self.tiny} are {self.tiny_info['split']} queries, not {self.split!r}: "
                f"drop --split or pass --split {self.tiny_info['split']}"
            )
        if self.prompts:
            from fusionbench.fusion.thoughts.apply import read_prompts_manifest

            prompts_split = read_prompts_manifest(self.prompts)["split"]
            if prompts_split != self.split:
                raise ValueError(
                    f"{self.prompts} holds thought prompts for the {prompts_split!r} split, not {self.split!r}; "
                    f"pass --split {prompts_split}"
                )
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be >= 1")
        sizes = (self.tensor_parallel_size, self.pipeline_parallel_size, self.data_parallel_size)
        if min(sizes) < 1 or (self.batch_size is not None and self.batch_size < 1):
            raise ValueError("batch and parallel sizes must be >= 1")
        if self.engine == "openai" and not self.base_url:
            raise ValueError("--engine openai needs --base-url (the server's OpenAI-compatible /v1 URL)")
        if self.concurrency < 1 or self.max_retries < 0:
            raise ValueError("concurrency must be >= 1 and max_retries >= 0")
        if self.ray_engine not in (None, "hf", "vllm"):
            raise ValueError(f"unknown engine inside ray {self.ray_engine!r}; expected hf or vllm")
        if self.engine == "hf" and self.tensor_parallel_size * self.pipeline_parallel_size > 1:
            raise ValueError(
                "the hf engine runs one device per replica; use --engine vllm for tensor/pipeline parallel"
            )

    @property
    def effective_batch_size(self) -> int:
        """The batch size asked for, else the engine's default."""
        return self.batch_size or DEFAULT_BATCH_SIZE[self.engine]

    def identity(self) -> dict[str, Any]:
        """The settings that decide what the rows are; a run folder holds rows of one identity only. The
        engine is not part of it: a run folder written by one engine is resumed by any other."""
        return {
            "model": self.model,
            "name": self.name,
            "tokenizer": self.tokenizer or self.model,
            **asdict(self.sampling),
            "tasks": list(self.tasks or TASKS),
            "modes": list(self.modes),
            "split": self.split,
            "shard": str(self.shard),
            "queries": self.export or EMBEDDED_SAMPLE,
            "prices": self.prices,
            **(self.prompts_identity() if self.prompts else {}),
            **({"tiny": f"{self.tiny_info['name']}@{self.tiny_info['fingerprint']}"} if self.tiny_info else {}),
        }

    def prompts_identity(self) -> dict[str, Any]:
        """With ``prompts``: the export the prompts were made from, and the prompts' fingerprint."""
        from fusionbench.fusion.thoughts.apply import read_prompts_manifest

        manifest = read_prompts_manifest(self.prompts)
        return {"queries": manifest["queries"], "prompts": manifest["fingerprint"]}

    def settings_hash(self) -> str:
        """A short hash of :meth:`identity`: part of every work item's key (see :func:`item_key`)."""
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def runtime(self) -> dict[str, Any]:
        """Settings that change how fast, not what: recorded in run.json, free to differ on a rerun."""
        return {
            "engine": self.engine,
            "base_url": self.base_url,
            "concurrency": self.concurrency,
            "ray_address": self.ray_address,
            "ray_engine": self.ray_engine,
            "limit": self.limit,
            "batch_size": self.effective_batch_size,
            "tensor_parallel_size": self.tensor_parallel_size,
            "pipeline_parallel_size": self.pipeline_parallel_size,
            "data_parallel_size": self.data_parallel_size,
            "distributed_executor_backend": self.distributed_executor_backend,
            "dtype": self.dtype,
            "max_model_len": self.max_model_len,
            "enforce_eager": self.enforce_eager,
            "engine_kwargs": self.engine_kwargs,
        }


def read_tiny_set(folder: str) -> dict[str, Any]:
    """The tiny set in ``folder`` whose anchors a run generates: name, path, split, anchors ({query_id: task})
    and their fingerprint (a damaged or missing set is refused by :func:`~fusionbench.fusion.tiny.load_tiny`)."""
    from fusionbench.fusion.tiny import load_tiny

    tiny = load_tiny(folder)
    anchors = dict(sorted(zip(tiny.query_ids, tiny.tasks, strict=True)))
    digest = hashlib.sha256("\x1f".join(anchors).encode("utf-8")).hexdigest()[:16]
    split = tiny.info.get("split")
    return {"name": Path(folder).resolve().name, "path": str(Path(folder).resolve()), "anchors": anchors,
            "split": SPLIT_ALIASES.get(split, split) if split else None, "fingerprint": digest}  # fmt: skip


def item_key(settings_hash: str, query_id: str, split: str, model: str, mode: str, sample: int) -> str:
    """The key of one (query, model, mode, sample) under one identity: stored with its row, it says whether the
    work item is done, whichever engine wrote it."""
    text = "\x1f".join((settings_hash, query_id, split, model, mode, str(sample)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def identity_differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``'key: recorded != current'`` for every identity setting that differs (former identity keys ignored)."""
    recorded = {k: v for k, v in recorded.items() if k not in FORMER_IDENTITY_KEYS}
    keys = sorted(set(recorded) | set(current))
    return [
        f"{k}: {recorded.get(k)!r} (run.json) != {current.get(k)!r} (now)"
        for k in keys
        if recorded.get(k) != current.get(k)
    ]
