"""Regenerate the compiler's golden files: `python scripts/regen_fixtures.py`.

Each `fixtures/<case>/input.py` is compiled as module `<case>` (path
`input.py`) in the three modes. A case that compiles gets `client.py`,
`step.py` and `workflow.py`; a refused one gets `errors.txt` (one formatted
diagnostic per line). tests/compiler/test_fixtures.py fails on any drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
OUTPUTS = ("client.py", "step.py", "workflow.py", "errors.txt")

sys.path.insert(0, str(ROOT))

from wdk.compiler.api import compile_source  # noqa: E402
from wdk.compiler.model import Mode  # noqa: E402
from wdk.errors import CompileError  # noqa: E402

MODES: tuple[Mode, ...] = ("client", "step", "workflow")


def render(case: str, source: str) -> dict[str, str]:
    """The golden files of one case, by file name."""
    try:
        return {f"{mode}.py": compile_source(source, case, mode, path="input.py") for mode in MODES}
    except CompileError as error:
        return {"errors.txt": "".join(d.format() + "\n" for d in error.diagnostics)}


def cases() -> list[Path]:
    """Every case folder, sorted."""
    return sorted(p.parent for p in FIXTURES.glob("*/input.py"))


def read(path: Path) -> str:
    # newline="" keeps the file's line endings exactly as written.
    with path.open(encoding="utf-8", newline="") as file:
        return file.read()


def main() -> int:
    changed = 0
    for folder in cases():
        wanted = render(folder.name, read(folder / "input.py"))
        for name in OUTPUTS:
            target = folder / name
            if name not in wanted:
                if target.exists():
                    target.unlink()
                    changed += 1
                continue
            if not target.exists() or read(target) != wanted[name]:
                with target.open("w", encoding="utf-8", newline="") as file:
                    file.write(wanted[name])
                changed += 1
    print(f"{len(cases())} cases, {changed} files written or removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
