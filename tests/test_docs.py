"""The documentation site stays true to the code (mkdocs.yml, docs/, scripts/gen_docs.py).

`make docs` (a prerequisite of `make test`) builds the site with `mkdocs build --strict`, which
fails on a broken link or anchor and on a page missing from the nav. These tests guard what the
build cannot see: that the generated reference pages match the code they are generated from, and
the same nav and link rules without needing mkdocs installed.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_docs", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen_docs() -> ModuleType:
    return _gen_docs()


def test_generated_reference_pages_are_current(gen_docs: ModuleType, tmp_path: Path) -> None:
    # Regenerate into a temporary docs dir and compare with the committed pages.
    assert gen_docs.main(["--out", str(tmp_path)]) == 0
    stale = [
        path
        for path in gen_docs.PAGES
        if not (DOCS / path).is_file()
        or (DOCS / path).read_text(encoding="utf-8")
        != (tmp_path / path).read_text(encoding="utf-8")
    ]
    assert not stale, f"stale generated pages {stale}: run `python scripts/gen_docs.py`"


def test_cli_reference_names_every_command_and_option(gen_docs: ModuleType) -> None:
    from exitguard.cli.main import COMMANDS, load_command

    text = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"## exitguard {name}\n" in text, name
        command = load_command(name)
        subcommands = getattr(command, "commands", {}) or {}
        for sub in subcommands:
            assert f"### exitguard {name} {sub}\n" in text, (name, sub)
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("-"):
                    assert f"{opt}" in text, (name, opt)


def test_config_reference_lists_every_key(gen_docs: ModuleType) -> None:
    from exitguard.config.api import ApiSection
    from exitguard.config.schema import ManagerSection, UrlsSection, VenueSection

    text = (DOCS / "reference" / "config.md").read_text(encoding="utf-8")
    for model in (ManagerSection, UrlsSection, VenueSection, ApiSection):
        for key in model.model_fields:
            assert f"| `{key}` |" in text, (model.__name__, key)


def _nav_pages() -> set[str]:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    return set(re.findall(r":\s*([\w./-]+\.md)\s*$", nav, flags=re.M))


def test_every_page_is_in_the_nav_and_exists() -> None:
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    nav = _nav_pages()
    assert pages - nav == set(), "pages missing from mkdocs.yml's nav"
    assert nav - pages == set(), "nav entries without a page"


def test_site_fetches_nothing_at_build_time() -> None:
    # Material would otherwise load Google Fonts; plugins beyond the built-in search may fetch.
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^  font: false$", text, flags=re.M)
    plugins = text[text.index("\nplugins:") :].split("\n\n", 1)[0]
    assert re.findall(r"^  - (\S+)", plugins, flags=re.M) == ["search"]


def test_readme_links_resolve() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert local, "the README links to the docs pages"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README links to missing files: {missing}"
