"""MkDocs hook (mkdocs.yml ``hooks:``): a guide's link to a file of the repository outside ``docs/`` (a package
README, a source file) is useful on GitHub but has no page on the site. Such a link becomes the path as code
text when the file exists; when it does not, the build logs a warning, which ``--strict`` turns into a failure."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.plugins.fusionbench_repo_links")
LINK = re.compile(r"(?<!!)\[([^\]]+)\]\((\.\./[^)#\s]+)(#[^)\s]*)?\)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Rewrite links that leave ``docs/`` for a repository file; warn about those whose file is missing."""
    docs = Path(config["docs_dir"]).resolve()
    root = docs.parent
    here = (docs / page.file.src_path).parent

    def rewrite(match: re.Match[str]) -> str:
        text, target = match.group(1), match.group(2)
        path = (here / target).resolve()
        if path.is_relative_to(docs):
            return match.group(0)  # a page of the site: mkdocs checks it
        if not path.exists():
            log.warning("%s links to %s, which does not exist in the repository", page.file.src_path, target)
            return match.group(0)
        shown = path.relative_to(root).as_posix()
        return text if text.strip("`") == shown else f"{text} (`{shown}`)"

    return LINK.sub(rewrite, markdown)
