"""Data parallel: ``data_parallel_size`` engine replicas, each in its own spawned process on its own devices.

vLLM's offline ``LLM`` refuses ``data_parallel_size > 1`` in one process, so the runner starts one process
per replica (``CUDA_VISIBLE_DEVICES`` set to its group of ``tensor x pipeline`` devices), deals the work
items round-robin and gathers progress and summaries through a queue. Replicas write their own shards
(names carry the rank) into the run folder, whose lock the parent holds; on Linux a replica dies with its
parent, so a killed run leaves no orphan writing into the folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import queue as queue_module
import signal
import time
import traceback
from typing import Any

from fusionbench.catalog import PriceSheet
from fusionbench.generation.engines import make_engine
from fusionbench.generation.items import ProgressFn, RunSummary, WorkItem, run_items
from fusionbench.generation.settings import GenerationSettings
from fusionbench.generation.store import RunStore

#: Seconds a replica gets to stop its engine after its work (or the run's failure) before it is terminated.
SHUTDOWN_TIMEOUT_S = 120.0


def _replica_devices(settings: GenerationSettings) -> list[str]:
    """CUDA_VISIBLE_DEVICES of each replica: consecutive groups of tensor x pipeline parallel devices."""
    width = settings.tensor_parallel_size * settings.pipeline_parallel_size
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = visible.split(",") if visible else [str(i) for i in range(width * settings.data_parallel_size)]
    if len(devices) < width * settings.data_parallel_size:
        raise ValueError(
            f"{settings.data_parallel_size} replicas x {width} devices need more than CUDA_VISIBLE_DEVICES={visible}"
        )
    return [",".join(devices[r * width : (r + 1) * width]) for r in range(settings.data_parallel_size)]


def generate_replicas(
    settings: GenerationSettings, items: list[WorkItem], sheet: PriceSheet | None, on_progress: ProgressFn
) -> RunSummary:
    """Run ``data_parallel_size`` engine replicas in spawned processes, items dealt round-robin."""
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    replicas = min(settings.data_parallel_size, len(items))  # no replica without work
    processes = [
        context.Process(
            target=_replica_main,
            args=(settings, rank, items[rank::replicas], sheet, messages, device),
            name=f"fusionbench-replica-{rank}",
        )
        for rank, device in enumerate(_replica_devices(settings)[:replicas])
    ]
    total, finished, start = RunSummary(settings.out), set(), time.perf_counter()
    try:
        for process in processes:
            process.start()
        while len(finished) < replicas:
            try:
                kind, rank, payload = messages.get(timeout=1.0)
            except queue_module.Empty:
                dead = [p for r, p in enumerate(processes) if r not in finished and p.exitcode is not None]
                if dead:
                    raise RuntimeError(f"replica {dead[0].name} exited with code {dead[0].exitcode}") from None
                continue
            if kind == "progress":
                on_progress(*payload)
            elif kind == "done":
                total.add(payload)
                finished.add(rank)
            else:
                raise RuntimeError(f"replica {rank} failed:\n{payload}")
        total.elapsed_s = time.perf_counter() - start
        return total
    finally:
        for rank, process in enumerate(processes):
            if rank in finished:  # it is shutting its engine down: let it (terminating it would orphan vLLM's)
                process.join(timeout=SHUTDOWN_TIMEOUT_S)
            if process.is_alive():
                process.terminate()
            if process.pid is not None:
                process.join()


def _die_with_parent() -> None:
    """Linux: have the kernel kill this replica when the parent dies, so no orphan writes into the run."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _replica_main(
    settings: GenerationSettings, rank: int, items: list[WorkItem], sheet: PriceSheet | None, messages: Any, device: str
) -> None:
    """Body of one replica process: its own devices, engine and shards (the parent holds the run lock)."""
    _die_with_parent()
    os.environ["CUDA_VISIBLE_DEVICES"] = device
    engine = None
    try:
        engine = make_engine(settings)
        store = RunStore(settings.out, lock=False, rank=rank)
        summary = run_items(
            settings, store, engine, items, sheet, lambda n, t: messages.put(("progress", rank, (n, t)))
        )
        messages.put(("done", rank, summary))
    except BaseException:
        messages.put(("error", rank, traceback.format_exc()))
        raise
    finally:
        if engine is not None:  # a spawned process ends with os._exit: no finalizer would stop vLLM's processes
            engine.close()
