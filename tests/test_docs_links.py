"""The docs ship with the product: every link in the repository's Markdown and templates
resolves inside the repository (a customer's clone has nothing beside it), anchors included.

- Markdown (README.md, docs/*.md, every other *.md): each relative link or image, inline,
  reference-style or an HTML href/src, names a file or folder inside the repository; a
  `#fragment` into a Markdown file names one of its headings (GitHub's slugs) or HTML ids.
- Templates: each literal href/src/action is a URL with a scheme, an `#id` some template
  defines, a path the app (or the demo site, for demo/templates) routes, or a repository file.
- No file anywhere in the repository points at the sibling folder outside it.
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", ".venv", "node_modules", ".pytest_cache", "__pycache__", "instance", "test-results"}
OUTSIDE = "../" + "shared"  # spelled in two parts so this file does not mention it

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.MULTILINE)
HTML_ATTR = re.compile(r"""\b(?:href|src|action)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
HTML_ID = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def repo_files(pattern: str) -> list[Path]:
    return sorted(p for p in ROOT.rglob(pattern)
                  if p.is_file() and not SKIP_DIRS.intersection(p.relative_to(ROOT).parts))


MARKDOWN = repo_files("*.md")
TEMPLATES = repo_files("*.html")


def prose(text: str) -> str:
    """The Markdown without fenced blocks and code spans: samples there are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def markdown_links_of(text: str) -> list[str]:
    text = prose(text)
    return INLINE_LINK.findall(text) + REFERENCE_DEF.findall(text) + HTML_ATTR.findall(text)


def markdown_links(path: Path) -> list[str]:
    return markdown_links_of(path.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts by its text
    text = re.sub(r"<[^>]+>", "", text.replace("`", ""))
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    text = path.read_text(encoding="utf-8")
    found: set[str] = set(HTML_ID.findall(text))
    seen: dict[str, int] = {}
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", FENCE.sub("", text), re.MULTILINE):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def inside_repository(target: Path) -> bool:
    try:
        target.resolve().relative_to(ROOT)
    except ValueError:
        return False
    return True


def check_file_link(source: Path, link: str) -> str | None:
    """Why `link` (in `source`) is broken, or None when it resolves inside the repository."""
    path_part, _, fragment = link.partition("#")
    path_part = unquote(path_part)
    if not path_part:
        target = source
    elif path_part.startswith("/"):
        target = ROOT / path_part.lstrip("/")  # GitHub reads /x as the repository's root
    else:
        target = source.parent / path_part
    if not inside_repository(target):
        return f"{link!r} leaves the repository"
    if not target.exists():
        return f"{link!r}: no such file {target.relative_to(ROOT) if inside_repository(target) else target}"
    if fragment and target.suffix == ".md" and fragment not in anchors(target.resolve()):
        return f"{link!r}: no heading or id {fragment!r} in {target.relative_to(ROOT)}"
    return None


def test_the_repository_has_its_own_api_reference():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/API.md)" in readme
    api = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    for section in ("## 1. Terms", "## 2. The snippet and the JavaScript API", "## 3. Widget JSON API",
                    "## 4. Signed user data", "## 5. The hosted page", "## 6. Command line",
                    "## 7. Dashboard", "## 8. Configuration", "## 9. Trust boundaries"):
        assert section in api, section
    # The snippet customers copy is the Promise-returning stub, and the reference says so.
    assert "return new Promise(function(s,f){q.push([m,a,b,s,f])})" in api
    assert "](CONTRACT-NOTES.md)" in api


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_markdown_link_resolves_inside_the_repository(path):
    broken = []
    for link in markdown_links(path):
        if SCHEME.match(link) or link.startswith("//"):
            continue  # a web address, not a file of ours
        problem = check_file_link(path, link)
        if problem:
            broken.append(problem)
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


def test_markdown_files_are_all_checked():
    names = {str(p.relative_to(ROOT)) for p in MARKDOWN}
    assert {"README.md", "docs/API.md", "docs/INTEGRATION.md", "docs/CONTRACT-NOTES.md"} <= names


@cache
def url_maps():
    """The routes of Signet and of the demo customer site, to check a template's literal paths."""
    from demo.app import app as demo_app
    from webapp import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "links"})
    return {"signet": app.url_map, "demo": demo_app.url_map}


def routed(url_map, path: str) -> bool:
    from werkzeug.exceptions import MethodNotAllowed, NotFound
    from werkzeug.routing import RequestRedirect

    adapter = url_map.bind("localhost")
    try:
        adapter.match(path.split("?")[0], method="GET")
    except MethodNotAllowed:
        return True  # a POST-only form target
    except RequestRedirect:
        return True
    except NotFound:
        return False
    return True


def template_ids() -> set[str]:
    return {i for path in TEMPLATES for i in HTML_ID.findall(path.read_text(encoding="utf-8"))}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_literal_link_in_templates_resolves(path):
    site = "demo" if "demo" in path.relative_to(ROOT).parts[:1] else "signet"
    broken = []
    for link in HTML_ATTR.findall(path.read_text(encoding="utf-8")):
        if "{{" in link or "{%" in link or SCHEME.match(link) or link.startswith("//"):
            continue  # built by url_for / the view, or a web address
        if link.startswith("#"):
            if link[1:] and link[1:] not in template_ids():
                broken.append(f"{link!r}: no element with that id in any template")
        elif link.startswith("/"):
            if not routed(url_maps()[site], link):
                broken.append(f"{link!r}: no such route in the {site} app")
        else:
            problem = check_file_link(ROOT / "README.md", link)  # relative to the repository
            if problem:
                broken.append(problem)
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


def test_no_file_points_outside_the_repository():
    mentions = []
    for path in repo_files("*"):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary
        if OUTSIDE in text:
            mentions.append(str(path.relative_to(ROOT)))
    assert not mentions, f"these files point at {OUTSIDE}, which a clone does not have: {mentions}"


def test_the_link_checker_catches_what_it_should():
    """The checker itself: a link out of the repository, a missing file and a missing anchor."""
    source = ROOT / "docs" / "API.md"
    assert check_file_link(source, "../" + "../elsewhere/API.md") is not None
    assert check_file_link(source, "NOPE.md") is not None
    assert check_file_link(source, "API.md#no-such-heading") is not None
    assert check_file_link(source, "#3-widget-json-api") is None
    assert check_file_link(source, "CONTRACT-NOTES.md#widget-api") is None
    assert markdown_links_of("[a](x.md) `[b](y.md)` [c]: z.md\n```\n[d](w.md)\n```\n[e]: v.md\n") == ["x.md", "v.md"]
