"""The front page, docs/ and the model card hold together: every relative link and #anchor in
README.md, docs/*.md and src/dcgan_sr/weights/README.md leads somewhere (a file of the
checkout, a heading of the page it names)."""

import re

import pytest

from conftest import REPO

DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [REPO / "README.md", *DOCS, REPO / "src" / "dcgan_sr" / "weights" / "README.md"]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def github_anchors(markdown: str) -> set[str]:
    """The #anchors GitHub gives a page's headings (lower case, punctuation dropped, spaces
    as hyphens, a repeated heading numbered -1, -2, ...)."""
    anchors, seen = set(), {}
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not re.match(r"#{1,6} ", line):
            continue
        text = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        count = seen.get(text, 0)
        seen[text] = count + 1
        anchors.add(text if count == 0 else f"{text}-{count}")
    return anchors


def links(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # not in code blocks
    return [target for target in LINK.findall(text)
            if not target.startswith(("http://", "https://", "mailto:"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in github_anchors(file.read_text()):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, broken


def test_the_front_page_stays_a_front_page():
    assert len((REPO / "README.md").read_text().splitlines()) <= 250
    assert {p.name for p in DOCS} >= {"usage.md", "training.md", "performance.md", "robustness.md",
                                      "reliability.md", "model.md", "layout.md"}


def test_the_anchor_rule_is_githubs():
    assert github_anchors("## How LR is made: the protocol and real-world degradations\n") == {
        "how-lr-is-made-the-protocol-and-real-world-degradations"}
    assert github_anchors("### Options of `dcgan-sr train` (defaults)\n## Measured\n## Measured\n") == {
        "options-of-dcgan-sr-train-defaults", "measured", "measured-1"}
