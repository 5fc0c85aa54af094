"""`wdk web` as a process: starts on a free port, serves the page and the API, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from wdk.cli.main import main


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["web", "--help"]) == 0
    out = capsys.readouterr().out
    assert "wdk web --port 8080" in out and "--data-dir" in out


async def test_wdk_web_process(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WDK_SERVER_URL", "WDK_API_TOKEN")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wdk", "web", "--port", "0", "--data-dir", str(data_dir),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        banner = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert banner.startswith("wdk web on http://127.0.0.1:"), banner
        url = banner.split()[3]
        # No WDK_API_TOKEN: a generated one, printed once as a login URL (as Jupyter does).
        said = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert said.startswith(f"wdk web: log in at {url}/?token="), said
        login = said.split()[-1]
        # unsafe: aiohttp keeps no cookie of an IP address host otherwise (browsers do).
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(url + "/") as resp:
                assert resp.status == 401 and "login URL" in await resp.text()
            async with http.get(url + "/api/runs") as resp:
                assert resp.status == 401
            async with http.get(login) as resp:  # sets the session cookie, then the page
                assert resp.status == 200 and "static/app.js" in await resp.text()
                assert str(resp.url) == url + "/"
            async with http.get(url + "/api/runs") as resp:
                assert await resp.json() == {"runs": [], "next_cursor": None}
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
