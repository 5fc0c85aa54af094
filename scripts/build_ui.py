"""Build the web UI: `python scripts/build_ui.py` (or `--check`).

Transforms each `wdk/web/ui/*.jsx` (in the order of `SOURCES`) with
esbuild-py, JSX to `h(...)` calls of the page's own helper (`ui/h.jsx`: no
React), and joins them into `wdk/web/static/app.js`, which is committed:
serving the UI never needs esbuild. `--check` exits 1 when the committed file
differs from a fresh build (tests/web/test_web_build.py does the same).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UI = ROOT / "wdk" / "web" / "ui"
OUTPUT = ROOT / "wdk" / "web" / "static" / "app.js"

# Dependencies first: each file only uses what the files before it define.
SOURCES = ("h.jsx", "format.jsx", "runs.jsx", "system.jsx", "timeline.jsx", "run.jsx", "schedules.jsx", "main.jsx")

# esbuild-py's transform takes no options: the JSX factory is set per file by pragma.
PRAGMA = "/** @jsx h */\n/** @jsxFrag Fragment */\n"
HEADER = "// Built by scripts/build_ui.py from wdk/web/ui/*.jsx: edit those, then rebuild.\n"


class BuildError(Exception):
    """A source that esbuild refused."""


def load_transform() -> Callable[[str], str]:
    """esbuild-py's `transform` (a dev dependency: `pip install -e '.[dev]'`)."""
    with warnings.catch_warnings():
        # esbuild-py imports distutils to find its library, which warns on 3.11.
        warnings.simplefilter("ignore", DeprecationWarning)
        from esbuild_py import transform
    return transform  # type: ignore[no-any-return]


def build(transform: Callable[[str], str] | None = None) -> str:
    """The text of app.js built from the current sources."""
    transform = transform or load_transform()
    parts = [HEADER, '(() => {\n"use strict";\n']
    for name in SOURCES:
        source = (UI / name).read_text(encoding="utf-8")
        out = transform(PRAGMA + source)
        if not out and source.strip():
            # esbuild-py reports a syntax error as an empty result, without the message.
            raise BuildError(f"esbuild could not transform {UI / name} (a syntax error?)")
        parts.append(f"\n// --- {name} ---\n{out}")
    parts.append("})();\n")
    return "".join(parts)


def main(argv: list[str]) -> int:
    try:
        text = build()
    except BuildError as exc:
        print(f"build_ui: {exc}", file=sys.stderr)
        return 1
    if "--check" in argv:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run python scripts/build_ui.py", file=sys.stderr)
            return 1
        print(f"{OUTPUT.relative_to(ROOT)} is up to date")
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
