"""A helper module without directives, as an application has: it imports its
libraries for real. Workflows that call it get what the sandbox allows."""

from __future__ import annotations

import asyncio

import aiohttp


async def fetch_status(url: str) -> int:
    # aiohttp sets timers (its request timeouts) before it touches the network.
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


async def pause(seconds: float) -> float:
    # The user's own helper: its sleep is the workflow's durable wait.
    await asyncio.sleep(seconds)
    return seconds
