"""``sft-data`` never copies a credential-like string from a response into training files unless asked to.

The fake credentials are assembled at run time from parts (random characters after each issuer's documented prefix),
so no string in this repository looks like a real one to a secret scanner.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import string
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import SHARED_DATA
from release_factory import release_rows, write_release

from fusionbench.cli import main
from fusionbench.fusion.sft.secrets import PATTERNS, find_credentials

_RANDOM = random.Random(16)
_ALNUM = string.ascii_letters + string.digits


def _chars(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(_RANDOM.choice(alphabet) for _ in range(n))


def _fakes() -> dict[str, str]:
    """kind -> a response holding a realistic fake credential of that kind (prefixes split so none is a literal)."""
    upper = string.ascii_uppercase + string.digits
    return {
        "huggingface_token": "Log in first: huggingface-cli login --token " + "hf" + "_" + _chars(34),
        "aws_access_key_id": "export AWS_ACCESS_KEY_ID=" + "AK" + "IA" + _chars(16, upper),
        "aws_secret_access_key": "aws_secret_access_key = " + _chars(40, _ALNUM + "/+"),
        "private_key": "-----BEGIN " + "OPENSSH PRIVATE" + " KEY-----\n" + _chars(64) + "\n-----END OPENSSH KEY-----",
        "authorization_header": "curl -H 'Authori" + "zation: Bearer " + _chars(12) + "7" + _chars(20) + "'",
        "bearer_token": "Use the header with bea" + "rer " + _chars(8) + "42" + _chars(24) + " and retry.",
        "github_token": "git clone https://" + "gh" + "p_" + _chars(36) + "@github.com/org/repo",
        "openai_key": 'client = OpenAI(api_key="' + "sk" + "-proj-" + _chars(30) + "9" + _chars(18) + '")',
        "anthropic_key": "ANTHROPIC_API_KEY=" + "sk" + "-ant-api03-" + _chars(40),
        "slack_token": "SLACK_BOT_TOKEN=" + "xo" + "xb-" + _chars(11, string.digits) + "-" + _chars(24),
        "google_api_key": "key=" + "AI" + "za" + _chars(35),
        "stripe_secret_key": "stripe.api_key = '" + "sk" + "_live_" + _chars(24) + "'",
        "gitlab_token": "PRIVATE-TOKEN: " + "gl" + "pat-" + _chars(20),
    }


def test_each_documented_kind_is_found_and_near_misses_are_not() -> None:
    fakes = _fakes()
    assert set(fakes) == set(PATTERNS)
    for kind, text in fakes.items():
        assert find_credentials(text)[:1] == [kind], (kind, text)
    near_misses = [
        "The bearer of this note is 7 years old.",
        "Asia has 48 countries; ASIA1234 is not a key.",
        "import sklearn  # sk-learn, scikit-learn",
        "hf_short is a variable name, as is gh_token and sk_test.",
        "-----BEGIN PUBLIC KEY-----",
        "Authorization: required",
        "The AWS secret is kept in a vault.",
        "def f(x):\n    return hashlib.sha256(x).hexdigest()  # " + hashlib.sha256(b"test").hexdigest(),
        "Let x = 3. Then 3 * 4 = 12 and 12 + 7 = 19, so the answer is \\boxed{19}.",
    ]
    for text in near_misses:
        assert find_credentials(text) == [], text


def _real_texts(shared_data: Path | None, sample_export: Path) -> list[str]:
    texts = []
    for path in sorted((sample_export / "data").rglob("*.parquet")):
        table = pq.read_table(path)
        if "response" in table.column_names:
            texts += [t for t in table["response"].to_pylist() if t]
    if shared_data is not None:
        with (shared_data / "gsm8k" / "example_model_solutions.jsonl").open() as handle:
            for line in handle:
                item = json.loads(line)
                texts += [item[c]["solution"] for c in item if isinstance(item[c], dict) and item[c].get("solution")]
        csv.field_size_limit(sys.maxsize)
        with (shared_data / "routing" / "routerbench-format" / "winograde_test.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):  # eleven chat models' free-text answers
                texts += [text for column, text in row.items() if column.endswith("|model_response") and text]
    return texts


def test_no_false_positive_on_real_math_and_code_responses(sample_export: Path) -> None:
    """The embedded sample's responses, and where ../shared/data is present OpenAI's 5,276 GSM8K solutions and
    RouterBench's Winogrande responses of eleven chat models."""
    shared = SHARED_DATA if (SHARED_DATA / "gsm8k").is_dir() else None
    texts = _real_texts(shared, sample_export)
    assert len(texts) > (9_000 if shared else 100)
    hits = [(text[:80], kinds) for text in texts if (kinds := find_credentials(text))]
    assert hits == []


# ---- sft-data end to end ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(release file, export, {model/mode: fake}): one gsm8k query whose 40 correct responses include 13 with a
    fake credential, each of another kind."""
    from fusionbench.build import build_export

    folder = tmp_path_factory.mktemp("secrets")
    rows = release_rows("gsm8k")
    fakes = _fakes()
    where = {}
    for row, (kind, fake) in zip(rows[::3], fakes.items(), strict=False):
        row["response"] = f"{fake}\nThe answer is \\boxed{{7}}."
        where[kind] = fake
    source = write_release(folder / "release" / "train.csv", rows)
    return source, build_export([str(source)], folder / "export").out, where


def _written(out: Path) -> str:
    """Every text the run wrote: the JSON files and the Hugging Face dataset's Parquet shard."""
    texts = [path.read_text() for path in sorted(out.glob("*.json"))]
    for path in sorted((out / "hf").rglob("*.parquet")):
        texts.append(json.dumps(pq.read_table(path).to_pylist()))
    return "\n".join(texts)


def test_sft_data_drops_counts_and_prints_credentials(planted, tmp_path: Path, capsys) -> None:
    _, export, fakes = planted
    out = tmp_path / "sft"
    assert main(["sft-data", "--data", str(export), "--out", str(out), "--top-k", "40"]) == 0
    captured = capsys.readouterr()
    written = _written(out)
    assert "The answer is \\\\boxed{7} from" in written  # the clean responses are there
    assert not [kind for kind, fake in fakes.items() if fake in written]
    report = json.loads((out / "report.json").read_text())
    assert report["skipped"]["credential_responses"] == len(fakes) == 13
    assert report["credentials_dropped"] == 13 and report["credentials"] == dict.fromkeys(sorted(fakes), 1)
    assert report["examples"] == 1 + 40 - 13  # the ground truth and every clean response
    assert "credential_responses" in captured.out and "13" in captured.out  # the report table, on stdout
    assert "13 responses or examples held a credential-like string" in " ".join(captured.err.split())


def test_keep_credentials_keeps_them(planted, tmp_path: Path, capsys) -> None:
    _, export, fakes = planted
    out = tmp_path / "sft"
    assert main(["sft-data", "--data", str(export), "--out", str(out), "--top-k", "40", "--keep-credentials"]) == 0
    alpaca = json.loads((out / "fusionbench_perf_top40.json").read_text())
    outputs = "\n".join(example["output"] for example in alpaca)
    assert all(fake in outputs for fake in fakes.values())
    report = json.loads((out / "report.json").read_text())
    assert report["examples"] == 41 and report["credentials_kept"] == 13 and report["credentials_dropped"] == 0
    assert "13 examples hold a credential-like string" in " ".join(capsys.readouterr().err.split())


def test_the_original_protocol_drops_them_too(planted, tmp_path: Path) -> None:
    source, _, fakes = planted
    out = tmp_path / "sft"
    args = ["sft-data", "--data", str(source), "--out", str(out), "--protocol", "fusionfactory", "--top-k", "40"]
    assert main(args) == 0
    written = _written(out)
    assert not any(fake in written for fake in fakes.values())
    report = json.loads((out / "report.json").read_text())
    assert report["skipped"]["credential_examples"] == 13
