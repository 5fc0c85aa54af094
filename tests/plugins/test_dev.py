"""`wdk dev` as a process: serves, restarts when a .py file changes, stops on SIGINT."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

# The workflow reads a plain module: the server imports it once, so only a
# restart sees it change (workflow sources themselves are re-read per run).
FLOW = '''
import dev_greeting


async def greeting() -> str:
    "use step"
    return dev_greeting.GREETING


async def greet(name: str) -> str:
    "use workflow"
    return await greeting() + ", " + name
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TOKEN = "dev-test-token"


def _call(url: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    request = urllib.request.Request(url, data, headers)
    with urllib.request.urlopen(request, timeout=15) as resp:
        result: dict[str, object] = json.loads(resp.read())
        return result


def _greet(base: str) -> object:
    run_id = _call(base + "/api/runs", {"workflow": "dev_flows:greet", "args": ["Ada"]})["run_id"]
    return _call(f"{base}/api/runs/{run_id}?wait=10")["output"]


def _until(what: str, check: object, timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()  # type: ignore[operator]
            if value:
                return value
        except (OSError, urllib.error.URLError):
            pass  # not listening (yet, or again)
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.timeout(60)
def test_wdk_dev_restarts_on_change(tmp_path: Path) -> None:
    project = Path(tempfile.mkdtemp(dir=tmp_path))
    (project / "dev_flows.py").write_text(FLOW)
    helper = project / "dev_greeting.py"
    helper.write_text('GREETING = "Hello"\n')
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WDK_")}
    env["WDK_API_TOKEN"] = TOKEN
    proc = subprocess.Popen(
        [sys.executable, "-m", "wdk", "dev", "--port", str(port), str(project)],
        cwd=project, env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: the serve child can be killed with it
        # Started with SIGINT ignored, as under nohup or in a pytest-xdist
        # worker: Ctrl-C must stop it all the same (it did not, once).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        assert _until("the first server", lambda: _greet(base)) == "Hello, Ada"
        assert _greet(base) == "Hello, Ada"  # still the first process
        helper.write_text('GREETING = "Bonjour"\n')
        _until("the reload", lambda: any("reloading" in line for line in lines))
        assert _until("the restarted server", lambda: _greet(base) == "Bonjour, Ada")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            # Seen once in CI under load: say what it printed, and leave no
            # `wdk dev` or `wdk serve` child behind.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            pytest.fail("wdk dev did not stop within 30 s of SIGINT; it printed:\n" + "".join(lines))
        finally:
            reader.join(5)
            proc.stdout.close()  # type: ignore[union-attr]
    out = "".join(lines)
    assert code == 0, out
    assert f"watching {project}" in out
    assert "wdk dev: reloading (modified dev_greeting.py)" in out, out
    assert out.count(f"wdk serve on {base}") == 2, out
    assert "wdk dev: stopped" in out
