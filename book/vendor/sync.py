"""Refresh the browser assets the site serves itself (book/_static/vendor/) from the npm registry.

The built site loads no script, style or font from outside itself, so MathJax, require.js, the
ipywidgets embed manager and reveal.js are committed under book/_static/vendor/ with their licences; the build never
downloads anything. This script is how they got there: it runs `npm ci` on the committed
package.json + package-lock.json in a temporary folder and copies the files the site needs.

    python book/vendor/sync.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEST = HERE.parent / "_static" / "vendor"

# (package, [paths inside the package to copy], destination folder under _static/vendor)
FILES: list[tuple[str, list[str], str]] = [
    ("requirejs", ["require.js", "README.md"], "requirejs"),
    # embed-amd.js and the icon fonts it loads (Font Awesome, hashed names) from its own dist/ folder
    ("@jupyter-widgets/html-manager", ["dist/embed-amd.js", "dist/*.woff", "dist/*.woff2", "dist/*.ttf"],
                                       "html-manager"),
    (
        "mathjax",
        [
            "LICENSE",
            "es5/tex-mml-chtml.js",
            "es5/input/tex/extensions",
            "es5/input/mml/extensions",
            "es5/output/chtml/fonts/woff-v2",
            "es5/ui",
            "es5/a11y",
            "es5/adaptors",
        ],
        "mathjax",
    ),
    # the slide decks (book/_ext/efftx_course.py): the UMD build, its stylesheet, one theme and its font, the
    # speaker-notes plugin (speaker view: press S), the licence
    ("reveal.js", ["LICENSE", "dist/reveal.js", "dist/reveal.css", "dist/theme/white.css",
                   "dist/theme/fonts/source-sans-pro", "plugin/notes/notes.js"], "reveal"),
]


# @jupyter-widgets/html-manager ships no LICENSE file; its package.json says BSD-3-Clause (the ipywidgets licence).
HTML_MANAGER_LICENSE = """@jupyter-widgets/html-manager (part of ipywidgets, https://github.com/jupyter-widgets/ipywidgets)
Licence: BSD-3-Clause, as declared in its package.json. Third-party notices bundled into embed-amd.js
(Font Awesome Free, Lumino, JupyterLab, ajv, jQuery, Backbone, ...) are listed in the package's source.

Copyright (c) 2015 Project Jupyter Contributors
All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products derived from
   this software without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""

# require.js carries its MIT licence in its header comment; MathJax ships LICENSE (Apache-2.0).


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(HERE / name, Path(tmp) / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=tmp, check=True)
        modules = Path(tmp) / "node_modules"
        if DEST.exists():
            shutil.rmtree(DEST)
        versions = {}
        for package, paths, folder in FILES:
            root = modules / package
            versions[package] = json.loads((root / "package.json").read_text())["version"]
            expanded = [p.relative_to(root).as_posix() for rel in paths for p in sorted(root.glob(rel))]
            for rel in expanded + [r for r in paths if "*" not in r and not (root / r).exists()]:
                src = root / rel
                if not src.exists() and rel in {"LICENSE", "README.md"}:
                    continue
                # drop the "es5/" level so MathJax's own relative loads keep working from the copy
                target = DEST / folder / (rel[len("es5/"):] if rel.startswith("es5/") else rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                if src.is_dir():
                    shutil.copytree(src, target)
                else:
                    shutil.copy2(src, target)
        (DEST / "html-manager" / "LICENSE").write_text(HTML_MANAGER_LICENSE)
        (DEST / "VERSIONS.json").write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n")
    print(f"vendored {versions} into {DEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
