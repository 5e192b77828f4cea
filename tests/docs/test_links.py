"""Every address a reader can follow names a place that exists today.

The README, the docs, the site's configuration and the package metadata may link only to
hosts that are known to serve the page (the API's own documentation, the conventions we
follow) or to loopback; a project site or repository that is not published must not be
named. Relative links in the README must name files of this repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Hosts a reader can open: the API (its docs and its endpoint, named as the address the
# client talks to), the conventions the CHANGELOG and the docs follow, and loopback.
KNOWN_HOSTS = {
    "voximplant.com", "api.voximplant.com", "docs.voximplant.ai",
    "keepachangelog.com", "semver.org", "diataxis.fr",
    "127.0.0.1", "localhost",
}
URL = re.compile(r"https?://([^/\s:)>\"'`]+)")


def reader_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "mkdocs.yml",
             ROOT / "pyproject.toml"]
    files += sorted((ROOT / "docs").rglob("*.md"))
    return files


@pytest.mark.parametrize("path", reader_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_go_to_hosts_that_exist(path: Path) -> None:
    hosts = set(URL.findall(path.read_text(encoding="utf-8")))
    assert hosts <= KNOWN_HOSTS, f"{path.name} links to unpublished hosts: {hosts - KNOWN_HOSTS}"


def test_readme_relative_links_name_files_that_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#:\s]+)[)#]", text)
    assert targets, "the README links to its docs"
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert missing == []

