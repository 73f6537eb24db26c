"""Publishing: checksums verified first, then exactly the export's files in one commit.

The Hub cannot be reached from here, so the test replaces only the HfApi methods that talk HTTP
(create_repo, create_branch, create_commit), and gives a made-up token in HF_TOKEN (the Hub never sees it).
Everything before them runs for real: the token check, checksum verification, the card's YAML check and the
commit operations that we then inspect.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from huggingface_hub import CommitInfo, HfApi
from release_factory import release_rows, write_release

from fusionbench.build import build_export
from fusionbench.cli import main
from fusionbench.export.push import ExportIntegrityError, MissingTokenError, push_export, verify_export


@pytest.fixture
def export(tmp_path: Path) -> Path:
    source = write_release(tmp_path / "release" / "train.csv", release_rows("gsm8k") + release_rows("boolq"))
    write_release(tmp_path / "release" / "partial_test.csv", release_rows("math"))
    return build_export([str(source.parent)], tmp_path / "export").out


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("HF_TOKEN", "hf_" + "test" * 8)
    calls: dict = {"create_repo": [], "create_branch": [], "create_commit": []}

    def create_repo(self, repo_id, **kwargs):
        calls["create_repo"].append((repo_id, kwargs))

    def create_branch(self, repo_id, **kwargs):
        calls["create_branch"].append((repo_id, kwargs))

    def create_commit(self, repo_id, operations, **kwargs):
        operations = list(operations)
        calls["create_commit"].append((repo_id, operations, kwargs))
        return CommitInfo(
            commit_url=f"https://huggingface.co/datasets/{repo_id}/commit/abc",
            commit_message=kwargs["commit_message"],
            commit_description="",
            oid="abc",
        )

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "create_branch", create_branch)
    monkeypatch.setattr(HfApi, "create_commit", create_commit)
    return calls


def test_push_commits_exactly_the_card_and_shards(export: Path, hub: dict) -> None:
    (export / "notes.txt").write_text("local scribbles are not uploaded")
    push_export(export, "org/fusionbench", private=True)
    assert hub["create_repo"] == [("org/fusionbench", {"repo_type": "dataset", "private": True, "exist_ok": True})]
    assert hub["create_branch"] == []
    [(repo_id, operations, kwargs)] = hub["create_commit"]
    assert repo_id == "org/fusionbench" and kwargs["repo_type"] == "dataset" and not kwargs["create_pr"]
    committed = {op.path_in_repo: Path(op.path_or_fileobj) for op in operations}
    expected = {"README.md"} | {p.relative_to(export).as_posix() for p in export.glob("data/**/*.parquet")}
    assert set(committed) == expected
    assert (
        "data/gsm8k/train-00000-of-00001.parquet" in committed and "data/math/test-00000-of-00001.parquet" in committed
    )
    card_text = (export / "README.md").read_text()
    metadata = yaml.safe_load(card_text.split("---\n")[1])
    assert {c["config_name"] for c in metadata["configs"]} == {"all", "gsm8k", "boolq", "math", "queries", "models"}
    for path, local in committed.items():
        if path.endswith(".parquet"):
            assert hashlib.sha256(local.read_bytes()).hexdigest() in card_text


def test_push_to_a_revision_or_as_a_pull_request(export: Path, hub: dict) -> None:
    push_export(export, "org/fusionbench", revision="v2")
    assert hub["create_branch"][0] == ("org/fusionbench", {"repo_type": "dataset", "branch": "v2", "exist_ok": True})
    assert hub["create_commit"][0][2]["revision"] == "v2"
    push_export(export, "org/fusionbench", create_pr=True)
    assert hub["create_commit"][1][2]["create_pr"] is True and len(hub["create_branch"]) == 1


def test_tampered_or_missing_shards_are_refused_before_any_upload(export: Path, hub: dict) -> None:
    assert len(verify_export(export)) == len(list(export.glob("data/**/*.parquet")))
    shard = export / "data" / "gsm8k" / "train-00000-of-00001.parquet"
    shard.write_bytes(shard.read_bytes() + b"x")
    with pytest.raises(ExportIntegrityError, match="does not match the card"):
        push_export(export, "org/fusionbench")
    shard.unlink()
    with pytest.raises(ExportIntegrityError, match="listed in the card but missing"):
        verify_export(export)
    assert hub["create_repo"] == [] and hub["create_commit"] == []


def test_cli_push_never_prints_the_token(export: Path, hub: dict, monkeypatch, capsys) -> None:
    secret = "hf_" + "s3cr3t" * 6
    monkeypatch.setenv("HF_TOKEN", secret)
    assert main(["push", str(export), "--repo-id", "org/fusionbench", "--create-pr"]) == 0
    captured = capsys.readouterr()
    assert "pushed" in captured.err and secret not in captured.out + captured.err
    assert hub["create_commit"][0][2]["create_pr"] is True


def test_push_without_a_token_says_so_before_any_request(
    export: Path, hub: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """No HF_TOKEN and no saved login: a clear error, and not one call of the (mocked) Hub API."""
    import huggingface_hub.constants

    for variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-login" / "token"))
    with pytest.raises(MissingTokenError, match=r"^no token: set HF_TOKEN or run huggingface-cli login$"):
        push_export(export, "org/fusionbench")
    assert main(["push", str(export), "--repo-id", "org/fusionbench"]) == 1
    assert "error: no token: set HF_TOKEN or run huggingface-cli login" in capsys.readouterr().err
    assert hub == {"create_repo": [], "create_branch": [], "create_commit": []}
