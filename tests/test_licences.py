"""Licences: the code is MIT (LICENSE), the content CC BY 4.0 (LICENSE-CONTENT.md), and what the repository
redistributes by others is listed in THIRD-PARTY.md with its licence file next to it. The licence line appears in
both editions' footer (site and handouts), on every slide deck's title slide, and on the licence page of both
editions. No build needed."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import efftx_course  # noqa: E402

CC_BY = "https://creativecommons.org/licenses/by/4.0/"
VENDOR = ROOT / "book" / "_static" / "vendor"
THIRD_PARTY = (ROOT / "THIRD-PARTY.md").read_text(encoding="utf-8")
# Vendored folders whose npm package ships no licence file: the licence is declared in the package's metadata
# and THIRD-PARTY.md says where.
DECLARED_ONLY = {"requirejs"}


def test_code_licence_is_mit_and_matches_the_package_metadata() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "The efftx authors" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["license"] == {"text": "MIT"}


def test_content_licence_names_cc_by_and_the_split() -> None:
    text = (ROOT / "LICENSE-CONTENT.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in text and CC_BY + "legalcode" in text
    assert "**MIT**" in text and "THIRD-PARTY.md" in text
    assert "## 한국어 요약" in text and "저작자표시" in text


def test_every_vendored_folder_has_its_licence_and_is_listed() -> None:
    folders = sorted(p.name for p in VENDOR.iterdir() if p.is_dir())
    versions = json.loads((VENDOR / "VERSIONS.json").read_text(encoding="utf-8"))
    assert folders, "no vendored folders found"
    for name in folders:
        assert f"book/_static/vendor/{name}/" in THIRD_PARTY, f"THIRD-PARTY.md does not list vendor/{name}"
        if name not in DECLARED_ONLY:
            assert (VENDOR / name / "LICENSE").is_file(), f"vendor/{name} has no LICENSE file"
    for package, version in versions.items():
        assert version in THIRD_PARTY, f"THIRD-PARTY.md does not give {package}'s version {version}"
    for font in (VENDOR / "reveal" / "dist" / "theme" / "fonts").iterdir():
        assert (font / "LICENSE").is_file(), f"the font {font.name} ships without its licence"
    viz = ROOT / "efftx_mini" / "viz_vendor"
    for script in viz.glob("*.js"):
        stem = script.name.split(".")[0]
        assert (viz / f"{stem}.LICENSE").is_file() and f"viz_vendor/{stem}" in THIRD_PARTY, script.name


def test_footer_of_both_editions_and_the_decks_carry_the_licence(book_build) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    for lang in ("en", "ko"):
        footer = book_build.edition_config(config, lang, "smoke", ROOT, repository=("", ""))["html"]["extra_footer"]
        assert 'class="efftx-licence"' in footer and CC_BY in footer and "MIT" in footer, lang
    assert "라이선스" in book_build.edition_config(config, "ko", "smoke", ROOT, repository=("", ""))["html"][
        "extra_footer"]
    for lang, ui in efftx_course.UI.items():
        line = efftx_course.licence_html(ui)
        assert CC_BY in line and "CC BY 4.0" in line and "MIT" in line, lang
    css = (ROOT / "book" / "_static" / "efftx.css").read_text(encoding="utf-8")
    assert re.search(r"@media print \{.*\.footer-item:has\(\.efftx-licence\) \{ display: block", css, re.S), \
        "the handouts (printed pages) must keep the licence line"


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_licence_page_in_both_editions(book_build, lang: str) -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = book_build.toc_files(book_build.edition_toc(toc, lang))
    assert f"book/{lang}/license" in files
    page = (ROOT / "book" / lang / "license.md").read_text(encoding="utf-8")
    assert CC_BY in page and "../../THIRD-PARTY.md" in page and "../../LICENSE" in page


def test_the_wheel_ships_the_licence_files() -> None:
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    for name in ("LICENSE", "LICENSE-CONTENT.md", "THIRD-PARTY.md"):
        assert name in manifest and (ROOT / name).is_file(), name
