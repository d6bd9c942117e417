"""Reading copies of the chapters for JupyterLab, with the citations written out (`make lab` runs this).

jupyterlab-myst renders the book's MyST (admonitions, exercises, math) but cannot resolve `{footcite}` roles:
it has no bibliography, so a reader sees raw keys such as "liu2021swin,mehta2022mobilevit". This script writes
`_build/lab/chapters/{en,ko}/*.md`, copies in which every citation role becomes author–year text read from
`book/references.bib` — `{footcite}` "(Liu et al., 2021; Mehta and Rastegari, 2022)", `{footcite:t}` "Press et
al. (2022)" (Korean edition: "Liu 등, 2021") — and the `{footbibliography}` directive becomes the chapter's
reference list. Code cells are copied byte for byte, `../results` and `../figures` are links to the
repository's folders, so the copies run exactly like the chapters. Sphinx keeps the sources' numbered
footnotes; only the lab sees the copies.

    python book/lab/readable.py [--out _build/lab]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ET_AL = {"en": "et al.", "ko": "등"}
AND = {"en": "and", "ko": "&"}
NOTE = {
    "en": ("This is a reading copy for JupyterLab, written by `make lab` from `chapters/{lang}/{name}`: citations are "
           "written out, everything else is the chapter. Edit the chapter, not this copy."),
    "ko": ("JupyterLab에서 읽기 위한 사본입니다. `make lab`이 `chapters/{lang}/{name}`에서 만들었으며, 인용을 저자와 "
           "연도로 풀어 쓴 것 말고는 장과 같습니다. 고칠 때는 이 사본이 아니라 장을 고치십시오."),
}
REFERENCES = {"en": "References", "ko": "참고 문헌"}
_ACCENTS = {"'": "\u0301", "`": "\u0300", '"': "\u0308", "^": "\u0302", "~": "\u0303", "c": "\u0327", "v": "\u030c"}
_SYMBOLS = {"L": "Ł", "l": "ł", "o": "ø", "O": "Ø", "ss": "ß", "aa": "å", "AA": "Å", "ae": "æ", "i": "ı"}


def plain(latex: str) -> str:
    """BibTeX field text as plain Unicode: accents, a few letters, \\url, \\&, and no braces."""
    import unicodedata

    text = re.sub(r"\\url\{([^}]*)\}", r"\1", latex)
    text = re.sub(r"\\([&%$#_])", r"\1", text)
    text = re.sub(r"\\([`'\"^~cv])\s*\{?\\?([A-Za-z])\}?",
                  lambda m: unicodedata.normalize("NFC", m.group(2) + _ACCENTS[m.group(1)]), text)
    text = re.sub(r"\\(ss|aa|AA|ae|[LlOoi])\b\s*", lambda m: _SYMBOLS[m.group(1)], text)
    text = text.replace("{", "").replace("}", "").replace("--", "–")
    return re.sub(r"\s+", " ", text).strip()


def load_bib(path: Path = ROOT / "book" / "references.bib") -> dict[str, dict]:
    """{key: {"authors": [last names], "year": str, "title": str, "venue": str}} from the book's bibliography."""
    from pybtex.database import parse_file

    out = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [plain(" ".join(p.prelast_names + p.last_names)) for p in people]
        if not names:  # an organisation as author
            names = [plain(entry.fields.get("author", entry.fields.get("organization", key)))]
        venue = next((entry.fields[f] for f in ("journal", "booktitle", "howpublished", "publisher", "note")
                      if f in entry.fields), "")
        out[key] = {"authors": names, "year": entry.fields.get("year", "n.d."), "title": plain(entry.fields["title"]),
                    "venue": plain(venue), "url": entry.fields.get("url", "")}
    return out


def _who(entry: dict, lang: str) -> str:
    names = entry["authors"]
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} {AND[lang]} {names[1]}"
    return f"{names[0]} {ET_AL[lang]}"


def cite(keys: list[str], bib: dict[str, dict], lang: str, textual: bool = False) -> str:
    """Author–year text of one citation role: parenthetical "Liu et al., 2021; ..." or textual "Liu et al. (2021)"."""
    missing = [k for k in keys if k not in bib]
    if missing:
        raise KeyError(f"citation keys not in book/references.bib: {missing}")
    if textual:
        return "; ".join(f"{_who(bib[k], lang)} ({bib[k]['year']})" for k in keys)
    return "; ".join(f"{_who(bib[k], lang)}, {bib[k]['year']}" for k in keys)


def reference_list(keys: list[str], bib: dict[str, dict]) -> str:
    lines = []
    for k in keys:
        e = bib[k]
        names = e["authors"]
        who = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
        venue = f" *{e['venue']}*." if e["venue"] else ""
        lines.append(f"- {who} ({e['year']}). {e['title']}.{venue}")
    return "\n".join(lines)


_ROLE = re.compile(r"(?P<open>\()?\{footcite(?P<t>:t)?\}`(?P<keys>[^`]+)`")
_FENCE = re.compile(r"^```\{code-cell\}[^\n]*\n.*?^```[ \t]*$", re.S | re.M)
_BIBLIO = re.compile(r"^```\{footbibliography\}\s*\n```[ \t]*$", re.M)


def readable(text: str, bib: dict[str, dict], lang: str, name: str = "") -> str:
    """The chapter with citation roles as author–year text and its bibliography as a list; code cells untouched."""
    cited: list[str] = []

    def role(m: re.Match) -> str:
        keys = [k.strip() for k in m["keys"].split(",") if k.strip()]
        cited.extend(k for k in keys if k not in cited)
        if m["t"]:
            return (m["open"] or "") + cite(keys, bib, lang, textual=True)
        inner = cite(keys, bib, lang)
        return f"({inner}" if m["open"] else f"({inner})"

    def prose(chunk: str) -> str:
        chunk = _ROLE.sub(role, chunk)
        # "({footcite}`k`, §2)" became "(Liu et al., 2021, §2)"; "({footcite}`k`)" became "(Liu et al., 2021)"
        return _BIBLIO.sub(lambda _: reference_list(cited, bib), chunk)

    out, last = [], 0
    for m in _FENCE.finditer(text):
        out.append(prose(text[last:m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(prose(text[last:]))
    result = "".join(out)
    if name:  # a note under the title: this is a copy
        note = NOTE[lang].format(lang=lang, name=name)
        result = re.sub(r"^(# .+\n)", lambda m: m.group(1) + f"\n:::{{note}}\n{note}\n:::\n", result, count=1,
                        flags=re.M)
    return result


def write_copies(out: Path, root: Path = ROOT) -> list[Path]:
    """Write the reading copies of every chapter in both editions under ``out``/chapters; return their paths."""
    bib = load_bib(root / "book" / "references.bib")
    chapters = out / "chapters"
    written = []
    for lang in ("en", "ko"):
        folder = chapters / lang
        folder.mkdir(parents=True, exist_ok=True)
        for src in sorted((root / "chapters" / lang).glob("*.md")):
            target = folder / src.name
            text = readable(src.read_text(encoding="utf-8"), bib, lang, src.name)
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
            written.append(target)
        for stale in set(folder.glob("*.md")) - set(written):
            stale.unlink()
    for shared in ("results", "figures"):  # the chapters' ../results and ../figures
        link = chapters / shared
        if not link.is_symlink():
            link.symlink_to((root / "chapters" / shared).resolve(), target_is_directory=True)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "lab")
    args = parser.parse_args(argv)
    written = write_copies(args.out)
    print(f"{len(written)} reading copies with written-out citations in {args.out / 'chapters'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
