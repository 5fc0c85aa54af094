"""wdk ships its types (PEP 561): `mypy --strict` on a user's project checks
calls into an installed wdk against wdk's own annotations.

The package is installed the way setuptools would from pyproject.toml (its
packages and package-data) into a bare virtualenv; mypy runs outside the
repository (none of its config) with that virtualenv's interpreter, on a user
file with a deliberate type error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import setuptools

ROOT = Path(__file__).resolve().parent.parent

USER_CODE = '''\
from wdk import get_step_metadata, sleep


async def charge(order_id: str) -> str:
    "use step"
    attempt: str = get_step_metadata().attempt  # deliberate: attempt is an int
    await sleep("1h")
    return order_id + attempt
'''


def _install(site: Path) -> None:
    """Copy what a wheel of this project holds: each package's modules and package-data."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = setuptools.find_packages(str(ROOT), include=config["packages"]["find"]["include"])
    data: dict[str, list[str]] = config.get("package-data", {})
    for package in packages:
        source = ROOT.joinpath(*package.split("."))
        target = site.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        files = list(source.glob("*.py"))
        for pattern in [*data.get(package, []), *data.get("*", [])]:
            files += [f for f in source.glob(pattern) if f.is_file()]
        for file in files:
            dest = target / file.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, dest)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's project folder next to a virtualenv with wdk installed in it."""
    root = tmp_path_factory.mktemp("user-project")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True, timeout=60)
    python = root / "venv" / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True, timeout=60,
        ).stdout.strip()
    )
    _install(site)
    # wdk's dependencies (msgspec, aiohttp...) from the test environment; the
    # editable wdk there is an import hook, which a .pth-added folder does not run.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (site / "deps.pth").write_text("\n".join(deps) + "\n")
    (root / "shop.py").write_text(USER_CODE)
    return root


def _mypy(project: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--python-executable", str(project / "venv" / "bin" / "python"),
         "--cache-dir", str(project / ".mypy_cache"), "shop.py"],
        cwd=project, env=env, capture_output=True, text=True, timeout=240,
    )


def _installed_marker(project: Path) -> Path:
    return next((project / "venv").glob("lib/python*/site-packages/wdk/py.typed"))


@pytest.mark.timeout(300)
def test_mypy_checks_user_code_against_the_installed_wdk(project: Path) -> None:
    assert _installed_marker(project).exists()  # pyproject's package-data ships it
    done = _mypy(project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'shop.py:6: error: Incompatible types in assignment (expression has type "int", variable has type "str")' in done.stdout
    assert "py.typed" not in done.stdout and "import-untyped" not in done.stdout
    assert "Found 1 error in 1 file" in done.stdout


@pytest.mark.timeout(300)
def test_without_the_marker_mypy_would_not_use_wdks_types(project: Path) -> None:
    """The control: the same install minus py.typed is skipped by mypy."""
    marker = _installed_marker(project)
    marker.unlink()
    try:
        done = _mypy(project)
    finally:
        marker.write_text("")
    assert 'Skipping analyzing "wdk": module is installed, but missing library stubs or py.typed marker' in done.stdout
    assert "Incompatible types in assignment" not in done.stdout
