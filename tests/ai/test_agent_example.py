"""examples/agent in headless Chromium (Debian's chromium, driven by
playwright), against the app's keyless demo model: a message streams its
answer and shows the tool calls; a gated tool waits for the Approve button
(and, denied, never runs); a reminder comes after a durable sleep;
a server killed mid-answer and started again, the page reconnects from its
last index and shows the answer once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agent" / "chat_server.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [  # as tests/web: no calling home on a closed network
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
GREETING = (
    "I am wdk's keyless demo model, a few rules standing in for a language model. Ask me about "
    "the weather in a city, to remind you of something in 5s, or to delete a file. You said: "
)


def _skip(reason: str) -> NoReturn:
    print(f"\nskipping the browser test: {reason}", file=sys.stderr)
    pytest.skip(reason)


class ChatServer:
    """`python examples/agent/chat_server.py` on a port and data dir of the test's."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        self.env.update(WDK_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(EXAMPLE), "--port", str(self.port)], env=self.env, stdout=log, stderr=log
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        async with aiohttp.ClientSession() as session:
            while True:
                assert self.proc.poll() is None, self.log.read_text()
                try:
                    async with session.get(self.url + "/") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                assert loop.time() < deadline, f"the chat server did not start: {self.log.read_text()}"
                await asyncio.sleep(0.05)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)


@pytest.fixture
async def chat_server(tmp_path: Path) -> AsyncIterator[ChatServer]:
    server = ChatServer(tmp_path / "wdk", tmp_path / "server.log")
    await server.start()
    try:
        yield server
    finally:
        server.kill(signal.SIGTERM)


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        _skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _skip("playwright is not installed (pip install -e '.[dev]')")
    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
        )
        context.set_default_timeout(15_000)
        tab = context.pages[0] if context.pages else await context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield tab
        finally:
            await context.close()
        assert errors == [], errors


# Record every length the answers' text has on screen: more than a few of
# them means it arrived delta by delta.
WATCH_TEXT = """() => {
  window.lengths = [];
  new MutationObserver(() => {
    const texts = [...document.querySelectorAll("#log .turn .text")];
    window.lengths.push(texts.reduce((n, t) => n + t.textContent.length, 0));
  }).observe(document.getElementById("log"), { childList: true, subtree: true });
}"""


async def test_send_see_it_stream_and_approve(chat_server: ChatServer, page: Any) -> None:
    from playwright.async_api import expect

    await page.goto(chat_server.url)
    await page.evaluate(WATCH_TEXT)
    await page.fill("#input", "What is the weather in Oslo and Paris?")
    await page.press("#input", "Enter")

    turn = page.locator(".turn").nth(0)
    await expect(turn.locator(".text").nth(0)).to_have_text("Let me check the weather. ")
    weather = turn.locator(".tool[data-tool=get_weather]")
    await expect(weather).to_have_count(2)  # two calls, run in parallel
    await expect(weather.nth(0).locator(".result")).to_contain_text("°C in Oslo")
    await expect(weather.nth(1).locator(".result")).to_contain_text("°C in Paris")
    await expect(turn.locator(".text").nth(1)).to_contain_text("Here is what I found: ")
    assert len(set(await page.evaluate("window.lengths"))) > 3  # streamed, not at once
    await expect(page.locator("#input")).to_be_enabled()

    await page.fill("#input", "Please delete /tmp/notes.txt")
    await page.press("#input", "Enter")
    gated = page.locator(".turn").nth(1).locator(".tool[data-tool=delete_file]")
    await expect(gated.locator("button.approve")).to_be_visible()
    await expect(gated.locator(".result")).to_have_count(0)  # waits for a human
    await gated.locator("button.approve").click()
    await expect(gated.locator(".result")).to_have_text("→ Deleted /tmp/notes.txt (a demo: nothing was deleted).")
    await expect(page.locator(".turn").nth(1).locator(".text").last).to_contain_text("Here is what I found")
    await expect(page.locator("#input")).to_be_enabled()  # the run's messages joined the conversation

    await page.fill("#input", "Please delete /etc/hosts")
    await page.press("#input", "Enter")
    gated = page.locator(".turn").nth(2).locator(".tool[data-tool=delete_file]")
    await gated.locator("button.deny").click()
    await expect(gated.locator(".error")).to_have_text("→ The user denied this tool call, so it did not run.")
    await expect(page.locator("#input")).to_be_enabled()

    await page.fill("#input", "Remind me in 1s to stretch")
    await page.press("#input", "Enter")
    reminder = page.locator(".turn").nth(3).locator(".tool[data-tool=remind_me_later]")
    await expect(reminder.locator(".result")).to_have_text("→ Reminder: stretch")  # after a durable sleep
    await expect(page.locator("#input")).to_be_enabled()


async def test_the_page_reconnects_after_a_server_restart_mid_answer(chat_server: ChatServer, page: Any) -> None:
    from playwright.async_api import expect

    said = "tell me a long story about durable workflows and crashes, please, with many words in it"
    await page.goto(chat_server.url)
    await page.fill("#input", said)
    await page.press("#input", "Enter")
    text = page.locator(".turn .text").first
    await page.wait_for_function("document.querySelector('.turn .text')?.textContent.length >= 24")
    assert len(await text.text_content() or "") < len(GREETING)  # mid-answer
    chat_server.kill()  # the app, its runtime and its model, mid-answer
    await chat_server.start()
    await expect(text).to_have_text(GREETING + said, timeout=30_000)  # once: no repeated text
    await expect(page.locator("#input")).to_be_enabled()

    await page.reload()  # the conversation is kept in the page's storage
    await expect(page.locator(".user")).to_have_text([said])
    await expect(page.locator(".text")).to_have_text([GREETING + said])
