"""Publish an export folder to the Hugging Face Hub, after checking its shards against the card."""

from __future__ import annotations

from pathlib import Path

from fusionbench.export.card import read_checksums, sha256_file
from fusionbench.export.folder import README, all_shards


class ExportIntegrityError(ValueError):
    """The export's shards do not match the checksums in its card."""


class MissingTokenError(ValueError):
    """No Hugging Face token: neither given, nor in ``HF_TOKEN``, nor saved by ``huggingface-cli login``."""


def verify_export(folder: Path) -> dict[str, str]:
    """Check every shard against the card's SHA-256 table; return {path: sha256} or raise."""
    folder = Path(folder)
    readme = folder / README
    if not readme.is_file():
        raise ExportIntegrityError(f"{folder}: no README.md; is this an export folder built by fusionbench?")
    expected = read_checksums(readme.read_text(encoding="utf-8"))
    if not expected:
        raise ExportIntegrityError(f"{readme}: no checksum table found")
    present = {p.relative_to(folder).as_posix() for p in all_shards(folder)}
    problems = [f"{path}: listed in the card but missing" for path in sorted(set(expected) - present)]
    problems += [f"{path}: not listed in the card" for path in sorted(present - set(expected))]
    for path in sorted(set(expected) & present):
        actual = sha256_file(folder / path)
        if actual != expected[path]:
            problems.append(f"{path}: sha256 {actual} does not match the card's {expected[path]}")
    if problems:
        raise ExportIntegrityError(f"{folder}: export does not match its card:\n  " + "\n  ".join(problems))
    return expected


def push_export(
    folder: Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
):
    """Verify, then upload README.md and exactly the card's shards as one atomic commit.

    The token comes from ``token``, ``HF_TOKEN`` or ``huggingface-cli login``; it is never printed. Without
    one, :class:`MissingTokenError` is raised before any request. Returns the Hub's CommitInfo.
    """
    from huggingface_hub import CommitOperationAdd, DatasetCard, HfApi, get_token

    token = token or get_token()
    if not token:
        raise MissingTokenError("no token: set HF_TOKEN or run huggingface-cli login")
    folder = Path(folder)
    shards = verify_export(folder)
    if not DatasetCard.load(folder / "README.md").data.get("configs"):
        raise ExportIntegrityError(f"{folder / 'README.md'}: the card's YAML front matter lists no configs")
    operations = [
        CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(folder / path))
        for path in ["README.md", *sorted(shards)]
    ]
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision and not create_pr:
        api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    return api.create_commit(
        repo_id,
        operations,
        repo_type="dataset",
        revision=revision,
        create_pr=create_pr,
        commit_message=commit_message or f"fusionbench export: {len(shards)} shards",
    )
