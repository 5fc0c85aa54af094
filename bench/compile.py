"""Compiler benchmark: pre-check speed and cold/warm `wdk build` times.

    .venv/bin/python bench/compile.py [--modules 100] [--keep DIR]

Prints (a) files/s of `has_directive` over every .py file of the standard
library, (b) seconds for a cold and a warm `wdk build` of a generated project
(100 modules, 20,000 lines, 400 steps), measured both in-process (`build()`)
and as the real command (`python -m wdk build`, interpreter start included),
(c) seconds to compile, in all three modes, every stdlib file that passes the
pre-check (each must come back unchanged: it has no workflow; the test suite
does the same for the smaller ones only).
The last line is JSON with every figure. Targets: cold <= 5 s, warm <= 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LINES_PER_MODULE = 200
STEPS_PER_MODULE = 4
PACKAGES = 10

HEADER = '''\
"""Order handling for region {region}, part {part}: generated for the benchmark."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from decimal import Decimal

from wdk import FatalError, RetryableError, sleep

TAX_RATE = Decimal("0.{part:02d}")
REGION = "{region}"


@dataclasses.dataclass
class Order{n}:
    id: str
    sku: str
    qty: int
    price: Decimal

    def total(self) -> Decimal:
        return (self.price * self.qty * (1 + TAX_RATE)).quantize(Decimal("0.01"))


def _normalise(payload: dict[str, object]) -> dict[str, object]:
    """Lower-case keys and drop empty values."""
    clean = {{}}
    for key, value in payload.items():
        if value in (None, "", [], {{}}):
            continue
        clean[key.lower()] = value
    return clean
'''

STEP = """

async def {name}(order_id: str, attempt: int = 1, *, note: str | None = None) -> dict[str, object]:
    "use step"
    if not order_id:
        raise FatalError("order id is required")
    if attempt > 5:
        raise RetryableError("upstream busy", retry_after="10s")
    record = {{"order": order_id, "step": "{name}", "attempt": attempt, "note": note}}
    encoded = json.dumps(_normalise(record), sort_keys=True)
    # Pretend to talk to a service and parse what it returned.
    reply = json.loads(encoded)
    reply["region"] = REGION
    return reply
"""

WORKFLOW = """

async def {name}(order_id: str, sku: str, qty: int = 1) -> dict[str, object]:
    "use workflow"
    order = Order{n}(order_id, sku, qty, Decimal("9.90"))
    first = await {s0}(order.id)
    if first.get("region") != REGION:
        raise FatalError("wrong region")
    second, third = await asyncio.gather({s1}(order.id, 2), {s2}(order.id, note=sku))
    await sleep("1h")
    fourth = await {s3}(order.id, attempt=3)
    return {{"total": str(order.total()), "steps": [first, second, third, fourth]}}
"""

FILLER = '''

def helper_{n}_{i}(values: list[int], scale: int = {i}) -> list[int]:
    """Plain code between the steps: the compiler must leave it alone."""
    out = []
    for value in values:
        if value % 2:
            out.append(value * scale)
        else:
            out.append(value // 2)
    return sorted(out)
'''


def module_source(n: int, region: str, part: int) -> str:
    """One module of exactly LINES_PER_MODULE lines with 4 steps and 1 workflow."""
    steps = [f"step_{n}_{k}" for k in range(STEPS_PER_MODULE)]
    text = HEADER.format(region=region, part=part, n=n)
    text += "".join(STEP.format(name=s) for s in steps)
    text += WORKFLOW.format(
        name=f"fulfil_{n}", n=n, s0=steps[0], s1=steps[1], s2=steps[2], s3=steps[3]
    )
    i = 0
    while text.count("\n") + FILLER.count("\n") <= LINES_PER_MODULE:
        text += FILLER.format(n=n, i=i)
        i += 1
    return text + "\n" * (LINES_PER_MODULE - text.count("\n"))


def generate(root: Path, modules: int) -> tuple[int, int]:
    """Write the project under root/shop; return (lines, steps)."""
    lines = steps = 0
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "__init__.py").write_text("")
    for n in range(modules):
        package = root / "shop" / f"region{n % PACKAGES}"
        package.mkdir(exist_ok=True)
        (package / "__init__.py").write_text("")
        text = module_source(n, f"r{n % PACKAGES}", n // PACKAGES)
        (package / f"orders{n // PACKAGES}.py").write_text(text)
        lines += text.count("\n")
        steps += text.count('"use step"')
    return lines, steps


def bench_precheck() -> tuple[int, float]:
    """(files, files per second) of has_directive over the stdlib."""
    from wdk.compiler.api import has_directive

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for path in stdlib.rglob("*.py"):
        if "site-packages" in path.parts:
            continue
        try:
            texts.append(path.read_bytes().decode("utf-8", "replace"))
        except OSError:
            continue
    started = time.perf_counter()
    hits = sum(1 for text in texts if has_directive(text))
    seconds = time.perf_counter() - started
    if hits:
        print(f"  note: {hits} stdlib files pass the pre-check (they are then fully analysed)")
    return len(texts), len(texts) / seconds


def bench_flagged_stdlib() -> tuple[int, float]:
    """(files, seconds): every stdlib file that passes the pre-check, compiled
    in each mode; SystemExit if one does not come back unchanged."""
    import warnings

    from wdk.compiler.api import compile_source, has_directive

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    flagged = []
    for path in sorted(stdlib.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        try:
            source = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                compile(source, str(path), "exec", dont_inherit=True)
            except (SyntaxError, ValueError):
                continue  # the stdlib's deliberately broken test inputs
        if has_directive(source):
            flagged.append((path, source))
    started = time.perf_counter()
    for path, source in flagged:
        for mode in ("client", "step", "workflow"):
            if compile_source(source, "std", mode, path=str(path)) is not source:  # type: ignore[arg-type]
                raise SystemExit(f"{path} changed when compiled in {mode} mode")
    return len(flagged), time.perf_counter() - started


def run_cli(project: Path, out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "wdk", "build", "shop", "--out", str(out)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"wdk build failed:\n{proc.stdout}{proc.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--modules", type=int, default=100)
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it")
    args = parser.parse_args()

    files, rate = bench_precheck()
    print(f"(a) has_directive over the stdlib: {files} files, {rate:,.0f} files/s")

    from wdk.compiler.build import build

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(args.keep or tmp)
        lines, steps = generate(project, args.modules)
        print(
            f"    project: {args.modules} modules, {lines} lines, {steps} steps, {os.cpu_count()} CPUs"
        )

        os.chdir(project)
        cold = build(["shop"], project / "out-inproc")
        assert cold.ok and len(cold.steps) == steps, cold.diagnostics[:3]
        warm = build(["shop"], project / "out-inproc")
        assert warm.compiled == [], warm.compiled
        print(f"(b) in-process build(): cold {cold.seconds:.2f} s, warm {warm.seconds:.3f} s")

        cli_cold = run_cli(project, project / "out-cli")
        cli_warm = run_cli(project, project / "out-cli")
        print(
            f"    `python -m wdk build`: cold {cli_cold:.2f} s, warm {cli_warm:.3f} s (process start included)"
        )

    flagged, flagged_s = bench_flagged_stdlib()
    print(f"(c) {flagged} stdlib files past the pre-check, compiled unchanged in 3 modes: {flagged_s:.2f} s")

    figures = {
        "precheck_files": files,
        "precheck_files_per_s": round(rate),
        "modules": args.modules,
        "lines": lines,
        "steps": steps,
        "cold_s": round(cold.seconds, 3),
        "warm_s": round(warm.seconds, 4),
        "cli_cold_s": round(cli_cold, 3),
        "cli_warm_s": round(cli_warm, 3),
        "stdlib_flagged": flagged,
        "stdlib_flagged_s": round(flagged_s, 2),
        "cold_ok": cold.seconds <= 5.0,
        "warm_ok": warm.seconds <= 0.3,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
