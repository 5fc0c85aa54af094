"""Helpers the agent tests share: the test's API key, reading a run's stream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wdk import StreamRollback

HERE = Path(__file__).resolve().parent
API_KEY = "sk-test-do-not-log-7f3a"


async def read_stream(run: Any, start_at: int = 0) -> list[tuple[int, Any]]:
    """Every (index, chunk) from `start_at` to the stream's end; rollbacks applied."""
    shown: dict[int, Any] = {}
    stream = run.stream(start=start_at)
    async for item in stream:
        if isinstance(item, StreamRollback):
            for i in item.indexes:
                shown.pop(i, None)
        else:
            shown[stream.index] = item
    return sorted(shown.items())


def text_of(chunks: list[tuple[int, Any]]) -> str:
    return "".join(c["delta"] for _, c in chunks if c["type"] == "text-delta")
