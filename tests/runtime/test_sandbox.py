"""Sandbox: restricted builtins, the import guard, deterministic stand-ins."""

from __future__ import annotations

import asyncio
import datetime as real_dt
import importlib.util
import re
import sys
import textwrap
import traceback
import uuid as real_uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wdk.errors import WorkflowSandboxError
from wdk.runtime.loop import WorkflowLoop
from wdk.runtime.sandbox import Sandbox

START = 1_700_000_000.5
DIRECTIVES = ('"use workflow"', '"use step"', "'use workflow'", "'use step'")


class Env:
    """A temp project: a fake third-party `site-packages` and the user's own modules."""

    def __init__(self, root: Path) -> None:
        self.site = root / "venv" / "lib" / "site-packages"
        self.project = root / "project"
        self.site.mkdir(parents=True)
        self.project.mkdir()
        self.write(self.site / "fakehttp" / "__init__.py", "def get(url): return 'real'\n")
        self.write(self.site / "fakehttp" / "client.py", "class Client: pass\n")

    @staticmethod
    def write(path: Path, text: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def module(self, dotted: str, text: str, *, package: bool = False) -> Path:
        # A module of the same name imported elsewhere in the test session
        # (another test folder's helper) must not stand in for this one.
        top = dotted.split(".")[0]
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]
        rel = Path(*dotted.split("."))
        path = self.project / rel / "__init__.py" if package else self.project / f"{rel}.py"
        return self.write(path, text)


def compile_module(name: str) -> tuple[str, str] | None:
    """Stands in for the lead's compiler hook: a module with a directive is its own workflow mode."""
    try:
        spec = importlib.util.find_spec(name)
    except ImportError:
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    source = Path(spec.origin).read_text()
    return (source, spec.origin) if any(d in source for d in DIRECTIVES) else None


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.delenv("WDK_SANDBOX_PASSTHROUGH", raising=False)
    e = Env(tmp_path)
    sys.path[:0] = [str(e.project), str(e.site)]
    importlib.invalidate_caches()
    try:
        yield e
    finally:
        sys.path[:] = [p for p in sys.path if p not in (str(e.project), str(e.site))]
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
                del sys.modules[name]
        importlib.invalidate_caches()


@pytest.fixture
def sandbox(env: Env) -> Sandbox:
    return Sandbox(compile_module=compile_module)


def load(
    sandbox: Sandbox, text: str, name: str = "wf_mod", filename: str = "/src/wf_mod.py"
) -> dict[str, Any]:
    return sandbox.load(name, textwrap.dedent(text), filename)


def run_in_loop(fn: Callable[[], Any], seed: int = 1, start: float = START) -> Any:
    """Call `fn` inside a workflow run (the WorkflowLoop is the running loop)."""
    loop = WorkflowLoop(run_id="r", seed=seed, start_time=start, timer_hook=lambda h: None)
    box: list[Any] = []
    loop.call_soon(lambda: box.append(fn()))
    loop.run_until_quiescent()
    loop.close()
    if loop.exceptions:
        raise loop.exceptions[0]["exception"]
    return box[0]


def _line_of(text: str) -> int:
    """The line of this file where `text` first appears."""
    return next(i for i, line in enumerate(Path(__file__).read_text().splitlines(), 1) if text in line)


# --- the import guard --------------------------------------------------------------


def test_third_party_import_loads_but_use_raises(sandbox: Sandbox) -> None:
    ns = load(
        sandbox,
        """
        import fakehttp
        import fakehttp.client as fc
        from fakehttp import get
        from fakehttp.client import Client

        async def fetch(client: fakehttp.client.Client | None = None) -> fakehttp.Response:
            "use step"
            return fakehttp.get("https://example.com")
        """,
    )
    assert "fakehttp" not in sys.modules  # the real module was never imported
    assert f"{ns['get']}" == "<restricted fakehttp.get>"  # printing is not a use
    with pytest.raises(WorkflowSandboxError) as info:
        ns["fakehttp"].get("https://example.com")
    # The test itself is "the user's code" that made the call.
    line = _line_of('ns["fakehttp"].get(')
    here = f"test_third_party_import_loads_but_use_raises() at {__file__}:{line}"
    assert str(info.value) == (
        f"fakehttp.get is not allowed in a workflow (in {here}): "
        'move it into a "use step" function '
        "(or add 'fakehttp' to the sandbox passthrough list)"
    )
    with pytest.raises(WorkflowSandboxError, match=r"^fakehttp\.get is not allowed"):
        ns["get"]()
    with pytest.raises(WorkflowSandboxError, match=r"^fakehttp\.client\.Client is not allowed"):
        ns["Client"]()
    with pytest.raises(WorkflowSandboxError, match=r"^fakehttp\.client\.Client is not allowed"):
        isinstance(object(), ns["fc"].Client)
    loop = WorkflowLoop(run_id="r", seed=1, start_time=START, timer_hook=lambda h: None)
    task = loop.create_task(ns["fetch"]())
    loop.run_until_quiescent()
    with pytest.raises(WorkflowSandboxError, match=r"^fakehttp\.get is not allowed"):
        task.result()
    loop.close()


@pytest.mark.parametrize(
    ("source", "dotted"),
    [
        ("import os\nos.environ['HOME']", "os.environ"),
        ("import os\nos.getenv('HOME')", "os.getenv"),
        ("import subprocess\nsubprocess.run(['ls'])", "subprocess.run"),
        ("from socket import socket\nsocket()", "socket.socket"),
        ("import threading\nthreading.Thread(target=print)", "threading.Thread"),
        ("import sys\nsys.argv[0]", "sys.argv"),
        ("import io\nio.open('x')", "io.open"),
        ("import pathlib\npathlib.Path('x')", "pathlib.Path"),
        ("import os.path\nos.path.exists('/')", "os.path.exists"),
        ("import shutil\nfor x in shutil.disk_usage: pass", "shutil.disk_usage"),
        ("from fakehttp import *", "from fakehttp import *"),
        ("import fakehttp\nclass Mine(fakehttp.Base): pass", "fakehttp.Base"),
    ],
)
def test_restricted_uses_name_the_call(sandbox: Sandbox, source: str, dotted: str) -> None:
    # The imports at module level, the use inside a workflow function.
    lines = source.splitlines()
    imports = [line for line in lines if line.startswith(("import ", "from "))]
    body = [line for line in lines if line not in imports]
    text = "\n".join([*imports, "async def wf():", *(f"    {line}" for line in body or ["pass"])])
    with pytest.raises(WorkflowSandboxError) as info:
        ns = load(sandbox, text)
        loop = WorkflowLoop(run_id="r", seed=1, start_time=START, timer_hook=lambda h: None)
        task = loop.create_task(ns["wf"]())
        loop.run_until_quiescent()
        try:
            task.result()
        finally:
            loop.close()
    assert str(info.value).startswith(f"{dotted} is not allowed in a workflow")
    assert '"use step"' in str(info.value)


def test_module_level_code_may_build_restricted_values(sandbox: Sandbox) -> None:
    """Steps' module-level objects (clients, apps, models) load in the sandbox as
    restricted values; workflow code that uses one is refused, naming it."""
    ns = load(
        sandbox,
        """
        import os
        import fakehttp

        client = fakehttp.Client(timeout=5)
        HOME = os.environ["HOME"]
        route = fakehttp.router.get("/x")

        @route
        def handler():
            return 1

        class Order(fakehttp.Base):
            id: str

        async def wf():
            return await client.get("/orders")
        """,
    )
    assert repr(ns["client"]) == "<restricted fakehttp.Client()>"
    assert repr(ns["HOME"]) == "<restricted os.environ[...]>"
    assert isinstance(ns["Order"], type)
    loop = WorkflowLoop(run_id="r", seed=1, start_time=START, timer_hook=lambda h: None)
    task = loop.create_task(ns["wf"]())
    loop.run_until_quiescent()
    with pytest.raises(WorkflowSandboxError, match=r"^fakehttp\.Client\(\)\.get is not allowed"):
        task.result()
    loop.close()


def test_pure_names_of_partial_modules_pass(sandbox: Sandbox) -> None:
    ns = load(
        sandbox,
        """
        import os, sys, io, pathlib
        from os.path import join
        joined = os.path.join("a", join("b", "c"))
        base = os.path.basename("/x/y.txt")
        big = sys.maxsize
        buf = io.StringIO()
        buf.write("hi")
        text = buf.getvalue()
        suffix = pathlib.PurePosixPath("/a/b.tar.gz").suffix
        """,
    )
    assert (ns["joined"], ns["base"], ns["text"], ns["suffix"]) == ("a/b/c", "y.txt", "hi", ".gz")
    assert ns["big"] == sys.maxsize


def test_pure_stdlib_passes_as_the_real_module(sandbox: Sandbox) -> None:
    ns = load(
        sandbox,
        """
        import asyncio, json, math, collections.abc, hashlib
        from dataclasses import dataclass
        import wdk.runtime.compiled as __wdk__

        @dataclass
        class Point:
            x: int

        async def flow(n: int) -> str:
            "use workflow"
            return json.dumps([math.floor(n / 2), hashlib.sha1(b"x").hexdigest()[:4]])

        __wdk__.register(globals(), "workflow", {"flow": "workflow//wf_mod//flow"}, {})
        """,
    )
    assert ns["asyncio"] is asyncio
    assert ns["collections"].abc is sys.modules["collections.abc"]
    assert ns["flow"].__wdk_workflow_id__ == "workflow//wf_mod//flow"
    assert ns["__wdk_mode__"] == "workflow"
    assert ns["Point"](3).x == 3


def test_missing_module_raises_import_error(sandbox: Sandbox) -> None:
    ns = load(
        sandbox,
        """
        try:
            import no_such_module_here as fast
        except ImportError:
            fast = None
        """,
    )
    assert ns["fast"] is None


def test_importlib_import_module_goes_through_the_guard(sandbox: Sandbox) -> None:
    ns = load(
        sandbox,
        """
        import importlib
        from importlib import import_module
        proxy = importlib.import_module("fakehttp")
        clock = import_module("time")
        real_json = import_module("json")
        """,
    )
    assert repr(ns["proxy"]) == "<restricted fakehttp>"
    assert ns["real_json"] is sys.modules["json"]
    with pytest.raises(WorkflowSandboxError, match=r"time\.time\(\) called outside a workflow run"):
        ns["clock"].time()
    with pytest.raises(WorkflowSandboxError, match=r"importlib\.reload is not allowed"):
        load(sandbox, "import importlib\n", name="other")["importlib"].reload(ns["proxy"])


# --- builtins ---------------------------------------------------------------------------------

REMOVED = ["open", "input", "exec", "eval", "compile", "breakpoint", "exit", "quit", "help"]


@pytest.mark.parametrize("name", REMOVED)
def test_removed_builtins_raise(sandbox: Sandbox, name: str) -> None:
    ns = load(sandbox, f"def call():\n    return {name}('x')\n")
    with pytest.raises(WorkflowSandboxError) as info:
        ns["call"]()
    message = str(info.value)
    assert message.startswith(f"{name}() is not allowed in a workflow (in call() at /src/wf_mod.py:2): ")
    assert message.endswith('Move it into a "use step" function.')


def test_open_message_and_builtins_module(sandbox: Sandbox) -> None:
    ns = load(
        sandbox, "import builtins\ndef a(): return open('f')\ndef b(): return builtins.open('f')\n"
    )
    for fn, line in ((ns["a"], 2), (ns["b"], 3)):
        with pytest.raises(WorkflowSandboxError) as info:
            fn()
        assert str(info.value) == (
            f"open() is not allowed in a workflow (in {fn.__name__}() at /src/wf_mod.py:{line}): "
            'it does I/O. Move it into a "use step" function.'
        )
    assert ns["builtins"].len([1]) == 1


# --- deterministic stand-ins ---------------------------------------------------------------------

SAMPLER = """
import random, time, uuid, secrets, os, datetime
from datetime import datetime as dt, date, timezone

def sample():
    return {
        "random": random.random(),
        "randint": random.randint(1, 10**9),
        "choice": random.choice("abcdefghij"),
        "shuffled": random.sample(range(100), 5),
        "uuid4": uuid.uuid4(),
        "token": secrets.token_hex(8),
        "urlsafe": secrets.token_urlsafe(),
        "below": secrets.randbelow(10**9),
        "urandom": os.urandom(8),
        "time": time.time(),
        "time_ns": time.time_ns(),
        "monotonic": time.monotonic(),
        "now": dt.now(),
        "now_utc": datetime.datetime.now(timezone.utc),
        "utcnow": dt.utcnow(),
        "today": date.today(),
        "strftime": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
"""


def test_stand_ins_are_deterministic_per_seed(sandbox: Sandbox) -> None:
    ns = load(sandbox, SAMPLER)
    a = run_in_loop(ns["sample"], seed=1)
    b = run_in_loop(ns["sample"], seed=1)
    c = run_in_loop(ns["sample"], seed=2)
    assert a == b
    for key in ("random", "randint", "uuid4", "token", "urlsafe", "below", "urandom"):
        assert a[key] != c[key], key
    assert a["time"] == START and a["monotonic"] == START
    assert a["time_ns"] == int(START * 1e9)
    expected = real_dt.datetime.fromtimestamp(START, real_dt.UTC)
    assert a["now_utc"] == expected
    assert a["now"] == a["utcnow"] == expected.replace(tzinfo=None)  # local zone is UTC
    assert a["today"] == expected.date()
    assert a["strftime"] == expected.strftime("%Y-%m-%d %H:%M:%S")
    assert a["uuid4"].version == 4 and len(a["urandom"]) == 8


def test_datetime_values_are_real(sandbox: Sandbox) -> None:
    ns = load(
        sandbox,
        """
        from datetime import datetime, date, timedelta
        import datetime as dtmod
        built = datetime(2024, 5, 17, 12, 30)
        parsed = datetime.fromisoformat("2024-05-17T12:30:00")
        combined = datetime.combine(date(2024, 5, 17), dtmod.time(12, 30))
        later = built + timedelta(days=1)
        def now(): return datetime.now()
        def check(value): return isinstance(value, datetime), isinstance(value, date)
        """,
    )
    for key in ("built", "parsed", "combined", "later"):
        assert type(ns[key]) is real_dt.datetime, key
    assert ns["built"] == ns["parsed"] == ns["combined"]
    now = run_in_loop(ns["now"])
    assert type(now) is real_dt.datetime
    assert ns["check"](real_dt.datetime(2020, 1, 1)) == (True, True)
    assert ns["check"](real_dt.date(2020, 1, 1)) == (False, True)
    assert issubclass(real_dt.datetime, ns["datetime"])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("time.sleep(1)", "time.sleep blocks the workflow: use `await wdk.sleep(...)`"),
        ("random.SystemRandom()", "random.SystemRandom reads the operating system's entropy"),
        ("secrets.SystemRandom()", "secrets.SystemRandom reads the operating system's entropy"),
        ("uuid.uuid1()", "uuid.uuid1() reads the host's network address"),
        ("time.process_time()", "time.process_time is not allowed in a workflow"),
    ],
)
def test_forbidden_stand_in_calls(sandbox: Sandbox, call: str, message: str) -> None:
    ns = load(sandbox, f"import time, random, secrets, uuid\ndef go(): return {call}\n")
    with pytest.raises(WorkflowSandboxError) as info:
        run_in_loop(ns["go"])
    assert str(info.value).startswith(message)
    assert "passthrough" not in str(info.value)  # these cannot be passed through


def test_pure_parts_of_stand_ins_pass(sandbox: Sandbox) -> None:
    ns = load(
        sandbox,
        """
        import random, uuid, time
        seeded = random.Random(42).random()
        named = uuid.uuid5(uuid.NAMESPACE_DNS, "example.com")
        stamp = time.strftime("%Y", time.gmtime(0))
        parsed = time.strptime("2024", "%Y").tm_year
        """,
    )
    assert ns["seeded"] == __import__("random").Random(42).random()
    assert ns["named"] == real_uuid.uuid5(real_uuid.NAMESPACE_DNS, "example.com")
    assert (ns["stamp"], ns["parsed"]) == ("1970", 2024)


def test_clock_at_import_time_raises(sandbox: Sandbox) -> None:
    with pytest.raises(WorkflowSandboxError) as info:
        load(sandbox, "import time\nSTARTED = time.time()\n")
    assert str(info.value).startswith("time.time() called outside a workflow run (at import time?)")
    # Failed loads are not cached: the fixed source loads.
    assert load(sandbox, "import time\nSTARTED = 1\n")["STARTED"] == 1


async def test_stand_ins_refuse_a_real_running_loop(sandbox: Sandbox) -> None:
    ns = load(sandbox, "import uuid\ndef make(): return uuid.uuid4()\n")
    with pytest.raises(
        WorkflowSandboxError, match=r"uuid\.uuid4\(\) called outside a workflow run"
    ):
        ns["make"]()


def test_asyncio_sleep_in_sandboxed_code_is_a_durable_wait(sandbox: Sandbox) -> None:
    ns = load(
        sandbox,
        """
        import asyncio, time
        async def flow():
            "use workflow"
            await asyncio.sleep(60)
            return time.time()
        """,
    )
    timers: list[asyncio.TimerHandle] = []
    loop = WorkflowLoop(run_id="r", seed=1, start_time=START, timer_hook=timers.append)
    task = loop.create_task(ns["flow"]())
    loop.run_until_quiescent()
    (handle,) = timers
    loop.set_time(handle.when())
    loop.fire_timer(handle)
    loop.run_until_quiescent()
    assert task.result() == START + 60
    loop.close()


@pytest.mark.parametrize("passthrough", [False, True])
def test_timers_set_by_a_refused_library_are_refused_before_they_are_waits(
    env: Env, passthrough: bool
) -> None:
    # A helper without directives imports its library for real; a workflow
    # that calls it must not turn that library's timers into durable waits.
    env.write(
        env.site / "faketimer" / "__init__.py",
        "import asyncio\n\nasync def request():\n    await asyncio.sleep(30)  # a timeout\n",
    )
    env.module(
        "net_helper",
        """
        import asyncio
        import faketimer

        async def fetch():
            await faketimer.request()

        async def pause():
            await asyncio.sleep(5)
        """,
    )
    sandbox = Sandbox(compile_module=compile_module, passthrough=["faketimer"] if passthrough else [])
    ns = load(
        sandbox,
        """
        from net_helper import fetch, pause

        async def flow(which):
            "use workflow"
            await (fetch() if which == "fetch" else pause())
        """,
    )
    timers: list[asyncio.TimerHandle] = []

    def on_timer(handle: asyncio.TimerHandle) -> None:
        sandbox.check_timer(sys._getframe(1))  # as WorkflowInstance does
        timers.append(handle)

    loop = WorkflowLoop(run_id="r", seed=1, start_time=START, timer_hook=on_timer)
    fetching, pausing = loop.create_task(ns["flow"]("fetch")), loop.create_task(ns["flow"]("pause"))
    loop.run_until_quiescent()
    assert not pausing.done()  # the user's own helper sleeps durably
    if passthrough:  # admitted by the user: its timers are the workflow's
        assert not fetching.done() and [t.when() for t in timers] == [START + 30, START + 5]
    else:
        assert [t.when() for t in timers] == [START + 5]
        message = str(fetching.exception())
        assert message.startswith("faketimer set a timer in a workflow, called from fetch (")
        assert "net_helper.py:6): faketimer is not allowed in workflow code" in message
    loop.close()


# --- the user's own modules ------------------------------------------------------------------


def test_user_module_with_directives_is_sandboxed(env: Env, sandbox: Sandbox) -> None:
    env.module(
        "helpers",
        """
        import fakehttp

        async def risky():
            "use workflow"
            return open("/etc/passwd")
        """,
    )
    env.module("shop", "", package=True)  # a real package, no directives
    env.module(
        "shop.flows",
        """
        from . import util
        from .util import double

        async def order():
            "use workflow"
            return double(2)
        """,
    )
    env.module("shop.util", "def double(x):\n    return 2 * x\n")
    ns = load(
        sandbox,
        """
        from helpers import risky
        import helpers
        import shop.flows
        from shop import flows
        """,
    )
    assert ns["risky"].__globals__["__builtins__"] is sandbox.builtins
    assert "helpers" not in sys.modules  # never imported for real
    assert repr(ns["helpers"].fakehttp) == "<restricted fakehttp>"
    with pytest.raises(WorkflowSandboxError, match=r"^open\(\) is not allowed"):
        ns["risky"]().send(None)
    flows = ns["flows"]
    assert flows.__wdk_sandboxed__ is True
    assert ns["shop"].flows is flows  # `import shop.flows` reaches the sandboxed module
    assert flows.util is sys.modules["shop.util"]  # no directives: the real module
    assert sandbox.resolve("shop.flows") is flows


def test_user_module_without_directives_passes_through(env: Env, sandbox: Sandbox) -> None:
    env.module("plain", "import os\nHOME = os.environ.get('HOME', '')\n")
    ns = load(sandbox, "import plain\n")
    assert ns["plain"] is sys.modules["plain"]


def test_circular_imports_between_sandboxed_modules(env: Env, sandbox: Sandbox) -> None:
    env.module(
        "ping", '"use workflow"\nimport pong\nasync def a(): return pong.NAME\nNAME = "ping"\n'
    )
    env.module(
        "pong", '"use workflow"\nimport ping\nNAME = "pong"\nasync def b(): return ping.NAME\n'
    )
    ns = load(sandbox, "import ping\n")
    assert ns["ping"].pong.ping is ns["ping"]


def test_passthrough_from_env_and_argument(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WDK_SANDBOX_PASSTHROUGH", " fakehttp , os")
    sb = Sandbox(compile_module=compile_module, passthrough=["time"])
    assert sb.passthrough == ("time", "fakehttp", "os")
    ns = sb.load("wf", "import fakehttp, os, time\n", "/src/wf.py")
    assert ns["fakehttp"].get("u") == "real"
    assert ns["os"] is sys.modules["os"]
    assert ns["time"] is not sys.modules["time"]  # deterministic stand-ins stay


# --- loading ------------------------------------------------------------------------------------------


def test_load_is_cached_by_source(sandbox: Sandbox) -> None:
    first = load(sandbox, "COUNTER = []\n")
    assert load(sandbox, "COUNTER = []\n") is first
    assert load(sandbox, "COUNTER = [1]\n") is not first


def test_tracebacks_point_at_the_users_file(sandbox: Sandbox) -> None:
    ns = load(sandbox, "\n\ndef boom():\n    raise ValueError('x')\n", filename="/app/flows.py")
    with pytest.raises(ValueError) as info:
        ns["boom"]()
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (last.filename, last.lineno) == ("/app/flows.py", 4)


# --- refusals name the user's line, and never suggest passing I/O through ------------------------


def _refusal(sandbox: Sandbox, text: str, name: str = "wf_mod") -> str:
    ns = load(sandbox, text, name=name, filename=f"/src/{name}.py")
    loop = WorkflowLoop(run_id="r", seed=1, start_time=START, timer_hook=lambda h: None)
    task = loop.create_task(ns["wf"]())
    loop.run_until_quiescent()
    try:
        with pytest.raises(WorkflowSandboxError) as info:
            task.result()
    finally:
        loop.close()
    return str(info.value)


@pytest.mark.parametrize(
    ("imports", "call"),
    [
        ("import urllib.request", "urllib.request.urlopen('http://x')"),
        ("import socket", "socket.create_connection(('x', 80))"),
        ("import http.client", "http.client.HTTPConnection('x')"),
        ("import aiohttp", "aiohttp.ClientSession()"),
        ("import requests", "requests.get('http://x')"),
        ("import fakeclient", "fakeclient.Client()"),  # an API client built on httpx
        ("import os", "os.getenv('HOME')"),
        ("import pathlib", "pathlib.Path('x')"),
    ],
)
def test_io_modules_are_never_suggested_for_the_passthrough_list(
    env: Env, sandbox: Sandbox, imports: str, call: str
) -> None:
    env.write(env.site / "requests" / "__init__.py", "def get(url): ...\n")
    env.write(env.site / "fakeclient" / "__init__.py", "class Client: ...\n")
    env.write(env.site / "fakeclient-1.0.dist-info" / "top_level.txt", "fakeclient\n")
    env.write(
        env.site / "fakeclient-1.0.dist-info" / "METADATA",
        "Metadata-Version: 2.1\nName: fakeclient\nVersion: 1.0\nRequires-Dist: httpx>=0.27\n",
    )
    importlib.invalidate_caches()
    message = _refusal(sandbox, f"{imports}\n\nasync def wf():\n    return {call}\n")
    assert "is not allowed in a workflow (in wf() at /src/wf_mod.py:4)" in message
    assert "passthrough" not in message, message
    assert '"use step"' in message


def test_workflow_code_installed_in_site_packages_is_still_named(sandbox: Sandbox) -> None:
    """An application deployed with `pip install .`: its workflow modules live in
    site-packages, yet they are the user's code the refusal must name."""
    filename = "/srv/venv/lib/python3.11/site-packages/shop/flows.py"
    ns = sandbox.load("shop_flows", "import socket\n\nasync def wf():\n    return socket.socket()\n", filename)
    loop = WorkflowLoop(run_id="r", seed=1, start_time=START, timer_hook=lambda h: None)
    task = loop.create_task(ns["wf"]())
    loop.run_until_quiescent()
    try:
        with pytest.raises(WorkflowSandboxError, match=rf"\(in wf\(\) at {re.escape(filename)}:4\)"):
            task.result()
    finally:
        loop.close()


def test_a_pure_third_party_module_is_still_suggested(sandbox: Sandbox) -> None:
    message = _refusal(sandbox, "import fakehttp\n\nasync def wf():\n    return fakehttp.get('u')\n")
    assert message.endswith("(or add 'fakehttp' to the sandbox passthrough list)")


def test_io_deep_in_a_helper_names_the_helper_that_called_it(env: Env, sandbox: Sandbox) -> None:
    """A workflow calls the user's own helper (no directives: the real module),
    whose I/O reaches the loop through asyncio: the refusal names the helper's
    line, not only `loop.create_connection()`."""
    helper = env.module(
        "nethelper",
        """
        import asyncio


        async def fetch_json(host):
            reader, writer = await asyncio.open_connection(host, 80)
            return await reader.read()
        """,
    )
    text = "import asyncio\nimport nethelper\n\nasync def wf():\n    return await nethelper.fetch_json('x')\n"
    message = _refusal(sandbox, text)
    assert message.startswith(
        f"loop.create_connection() is not allowed in a workflow (in fetch_json() at {helper}:6): "
    ), message
    # The same call run by asyncio.gather: its task has no user frame, so the
    # helper is still the innermost user code on the stack.
    gathered = text.replace("await nethelper.fetch_json('x')", "await asyncio.gather(nethelper.fetch_json('x'))")
    assert f"(in fetch_json() at {helper}:6)" in _refusal(sandbox, gathered, name="wf_gathered")


def test_a_refusal_in_a_task_without_user_frames_names_where_the_task_was_made(
    sandbox: Sandbox,
) -> None:
    # asyncio.to_thread runs only asyncio frames before the refused
    # run_in_executor: the line that made the task is the user's.
    text = "import asyncio\n\nasync def wf():\n    return await asyncio.gather(asyncio.to_thread(print))\n"
    message = _refusal(sandbox, text)
    assert message.startswith(
        "loop.run_in_executor() (and asyncio.to_thread()) is not allowed in a workflow "
        "(in wf() at /src/wf_mod.py:4): "
    ), message
