"""The docs match the command: every `wdk ...` example in README.md, docs/ and
each command's `--help` parses with the real parser (options, choices, types),
names files that exist, and runs when it is self-contained; every option a
command's `--help` lists is in that command's section of docs/cli.md.

Code blocks marked ```text hold output (transcripts), not commands."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wdk.cli.main import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console"}
# `VAR=value ` prefixes and `RUN=$(...)` around a command.
_ENV = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")
# Repository paths an example may name (they must exist).
_REPO_PATH = re.compile(r"^(?:tests|examples|fixtures|docs|scripts|bench)/\S+")


@dataclass(frozen=True)
class Example:
    where: str  # "docs/cli.md:120" or "wdk replay --help"
    line: str  # the command, from `wdk` on, without env assignments or comment

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.line, comments=True)[1:]

    @property
    def is_synopsis(self) -> bool:
        """`wdk build [PATH ...] [--out DIR]`: a usage line, not a runnable example."""
        return "[" in self.line or " | " in self.line


def _command_line(text: str) -> str | None:
    text = text.strip().removeprefix("$ ")
    text = re.sub(r"^\w+=\$\((.*)\)$", r"\1", text)  # RUN=$(wdk start ...)
    text = _ENV.sub("", text)
    for prefix in ("python -m wdk ", ".venv/bin/wdk ", "wdk "):
        if text.startswith(prefix):
            return "wdk " + text[len(prefix) :]
    return None


def _doc_examples() -> Iterator[Example]:
    for path in DOCS:
        fence: str | None = None
        for number, text in enumerate(path.read_text().splitlines(), 1):
            stripped = text.strip()
            if stripped.startswith("```"):
                fence = None if fence is not None else stripped[3:].strip()
                continue
            if fence in SHELL_BLOCKS:
                line = _command_line(stripped)
                if line is not None:
                    yield Example(f"{path.relative_to(ROOT)}:{number}", line)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _commands() -> dict[str, argparse.ArgumentParser]:
    return _subparsers(build_parser())


def _help_examples() -> Iterator[Example]:
    """The `examples:` lines of every command's (and inspect view's) --help."""
    for name, parser in _commands().items():
        parsers = {name: parser} | {f"{name} {v}": p for v, p in _subparsers(parser).items()}
        seen: set[str] = set()
        for label, sub in parsers.items():
            for text in (sub.epilog or "").splitlines():
                line = _command_line(text)
                if line is not None and line not in seen:
                    seen.add(line)
                    yield Example(f"wdk {label} --help", line)


EXAMPLES = [*_doc_examples(), *_help_examples()]


def test_the_docs_have_examples_to_check() -> None:
    where = {e.where.split(":")[0] for e in EXAMPLES}
    assert {"docs/cli.md", "docs/guide.md", "docs/web.md", "docs/frameworks.md"} <= where
    assert sum(e.where.endswith("--help") for e in EXAMPLES) >= 2 * len(COMMANDS)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"argparse refused it (exit {exc.code})") from None


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        option
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
        for option in action.option_strings
    }


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e.where} {e.line}")
def test_every_example_parses_and_names_existing_files(
    example: Example, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = example.argv
    assert argv and argv[0] in COMMANDS, f"{example.where}: no command {argv[:1]}"
    if example.is_synopsis:
        # Every option a usage line shows is an option of that command (or view).
        parser = _commands()[argv[0]]
        views = _subparsers(parser)
        if len(argv) > 1 and argv[1] in views:
            parser = views[argv[1]]
        shown = {t.strip("[]").split("=")[0] for t in argv if t.strip("[]").startswith("-")}
        assert shown <= _options(parser), f"{example.where}: unknown {sorted(shown - _options(parser))}"
        return
    args = _parse(argv)
    assert getattr(args, "func", None) is not None, f"{example.where}: {example.line} is not a command"
    for token in argv:
        if _REPO_PATH.match(token):
            assert (ROOT / token).exists(), f"{example.where}: {token} does not exist"


def _self_contained(example: Example) -> bool:
    """An example that names repository files and no placeholder: it can run here."""
    return (
        not example.is_synopsis
        and any(_REPO_PATH.match(t) for t in example.argv)
        and not any("..." in t or t.startswith(("shop", "wrun_")) for t in example.argv)
    )


RUNNABLE = [e for e in EXAMPLES if _self_contained(e)]


def test_some_examples_are_runnable() -> None:
    assert any(e.where == "wdk replay --help" for e in RUNNABLE)


@pytest.mark.parametrize("example", RUNNABLE, ids=lambda e: f"{e.where} {e.line}")
def test_self_contained_examples_run(example: Example, tmp_path: Path) -> None:
    """Run from the repository root, as the docs mean them, on a fresh data dir."""
    env = {**os.environ, "WDK_DATA_DIR": str(tmp_path / "wdk")}
    env.pop("WDK_WORLD", None)
    done = subprocess.run(
        [sys.executable, "-m", "wdk", *example.argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{example.where}: {example.line}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"


# --- docs/cli.md has every option -------------------------------------------------------


def _cli_sections() -> dict[str, str]:
    """docs/cli.md's `## \\`wdk X\\`` sections by command name."""
    text = (ROOT / "docs" / "cli.md").read_text()
    parts = re.split(r"^## ", text, flags=re.M)
    sections = {}
    for part in parts[1:]:
        match = re.match(r"`wdk (\w+)`", part)
        if match:
            sections[match.group(1)] = part
    return sections


def _documented(option: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_in_help_is_in_docs_cli_md(command: str) -> None:
    section = _cli_sections().get(command)
    assert section is not None, f"docs/cli.md has no section `wdk {command}`"
    parser = _commands()[command]
    options = _options(parser)
    for view in _subparsers(parser).values():
        options |= _options(view)
    missing = sorted(o for o in options if not _documented(o, section))
    assert not missing, f"`wdk {command} --help` lists {missing}, not in docs/cli.md's section"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_synopsis_runs_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from wdk.cli.main import main

    assert main([command, "--help"]) == 0
    assert f"wdk {command}" in capsys.readouterr().out
