"""What the sandbox hands workflow code instead of a real module.

* `RestrictedProxy` -- for a module a workflow may import but not use
  (`httpx`, `os.environ`, ...): navigating it gives more proxies, any real use
  raises `WorkflowSandboxError` naming the full dotted name.
* `PartialModule` -- a real module with a few pure names let through
  (`os.path.join`, `sys.version_info`); the other names are proxies.
* deterministic stand-ins for `random`, `time`, `datetime`, `uuid`,
  `secrets` and `os.urandom`: they read the run's `WorkflowLoop` (its seeded
  `random` and virtual clock) through `asyncio.get_running_loop()`.

In a workflow the local timezone is UTC, so that a replay on a worker in
another zone sees the same values.
"""

from __future__ import annotations

import base64
import calendar
import datetime as _dt
import functools
import importlib.metadata
import io
import os
import pathlib
import random
import re
import secrets
import sys
import time
import types
import typing
import uuid
from asyncio import events
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from wdk.runtime import callsite
from wdk.runtime.loop import WorkflowLoop

__all__ = [
    "IO_MODULES",
    "PartialModule",
    "RestrictedProxy",
    "current_loop",
    "passthrough_hint",
    "standin_modules",
]

_STEP = 'move it into a "use step" function'


# Modules that exist to do I/O (network, files, processes, threads, clocks of
# other machines): a refusal never suggests passing them through, since in a
# workflow they would break replay. Their calls belong in steps.
IO_MODULES = frozenset(
    """
    _thread asyncore concurrent dbm fcntl fileinput ftplib glob http imaplib io mailbox mmap
    multiprocessing nntplib os pathlib poplib pty select selectors shelve shutil signal smtplib
    socket socketserver sqlite3 ssl subprocess sys telnetlib tempfile termios threading tty
    urllib webbrowser wsgiref xmlrpc zipimport
    aioboto3 aiobotocore aiofiles aiohttp aiokafka aiomysql aio_pika aioredis aiosqlite anthropic
    anyio asyncpg azure boto3 botocore celery confluent_kafka django elasticsearch fastapi flask
    fsspec google grpc gunicorn h11 h2 httpcore httplib2 httpx kafka kombu motor MySQLdb nats
    openai paramiko pika psycopg psycopg2 psycopg_pool pycurl pymongo pymysql redis requests
    s3fs sendgrid slack_sdk sqlalchemy starlette stripe tornado trio twilio urllib3 uvicorn
    websocket websockets
    """.split()
)


def passthrough_hint(top: str | None) -> str | None:
    """The module a refusal may suggest adding to the passthrough list: none for
    an I/O module, nor for a package built on one (an API client on `httpx`)."""
    if top is None or top in IO_MODULES or _uses_io(top):
        return None
    return top


@functools.cache
def _uses_io(top: str) -> bool:
    # Read only when a refusal is being worded: the installed distributions'
    # metadata is slow to scan.
    try:
        dists = importlib.metadata.packages_distributions().get(top, [])
        for dist in dists:
            for requirement in importlib.metadata.requires(dist) or []:
                name = re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]
                if name.replace("-", "_").lower() in _IO_REQUIREMENTS and "extra ==" not in requirement:
                    return True
    except Exception:  # broken metadata: no reason to hold back the hint
        return False
    return False


_IO_REQUIREMENTS = frozenset(m.lower() for m in IO_MODULES) | {"aiohttp", "httpx", "requests"}


def current_loop(what: str) -> WorkflowLoop:
    """The running WorkflowLoop, or a WorkflowSandboxError naming `what`."""
    loop = events._get_running_loop()
    if isinstance(loop, WorkflowLoop):
        return loop
    raise callsite.located(
        f"{what} called outside a workflow run (at import time?): in a workflow it is "
        "deterministic and reads the run's clock and seed. Call it inside the workflow "
        f"function, or {_STEP}"
    )


def _error_callable(name: str, message: str) -> Callable[..., NoReturn]:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise callsite.located(message)

    refuse.__name__ = refuse.__qualname__ = name.rsplit(".", 1)[-1]
    return refuse


class RestrictedProxy:
    """A name from a module that workflow code may import but not use."""

    __slots__ = ("_wdk_name", "_wdk_passthrough")

    def __init__(self, name: str, passthrough: str | None = None) -> None:
        object.__setattr__(self, "_wdk_name", name)
        # The module the error suggests adding to the passthrough list, if any.
        object.__setattr__(self, "_wdk_passthrough", passthrough)

    def _wdk_refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        name: str = object.__getattribute__(self, "_wdk_name")
        hint = passthrough_hint(object.__getattribute__(self, "_wdk_passthrough"))
        extra = f" (or add {hint!r} to the sandbox passthrough list)" if hint else ""
        raise callsite.refused(name, f"{_STEP}{extra}")

    def __getattr__(self, attr: str) -> Any:
        name: str = object.__getattribute__(self, "_wdk_name")
        if attr == "__all__":
            raise callsite.refused(f"from {name} import *", _STEP)
        if attr.startswith("__") and attr.endswith("__"):
            # Introspection (hasattr, typing, inspect) must see a plain object.
            raise AttributeError(attr)
        return RestrictedProxy(f"{name}.{attr}", object.__getattribute__(self, "_wdk_passthrough"))

    def __repr__(self) -> str:
        return f"<restricted {object.__getattribute__(self, '_wdk_name')}>"

    # Annotations such as `httpx.Response | None` are evaluated when a step is
    # defined; they must not fail.
    def __or__(self, other: Any) -> Any:
        return typing.Union[self, other]  # noqa: UP007

    def __ror__(self, other: Any) -> Any:
        return typing.Union[other, self]  # noqa: UP007

    def __mro_entries__(self, bases: tuple[Any, ...]) -> NoReturn:
        self._wdk_refuse()


# Every way to use a value, other than looking at it, raises.
for _dunder in (
    "__call__ __setattr__ __delattr__ __getitem__ __setitem__ __delitem__ __iter__ "
    "__aiter__ __next__ __anext__ __len__ __contains__ __bool__ "
    "__bytes__ __int__ __float__ __index__ __complex__ __enter__ __exit__ __aenter__ "
    "__aexit__ __await__ __lt__ __le__ __gt__ __ge__ __instancecheck__ __subclasscheck__ "
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ "
    "__floordiv__ __mod__ __pow__ __and__ __xor__ __neg__ __pos__ __abs__ __invert__"
).split():
    setattr(RestrictedProxy, _dunder, RestrictedProxy._wdk_refuse)

# > 0 while the sandbox runs a module's top-level code. Module-level code may
# build objects from restricted modules (`client = httpx.AsyncClient()`,
# `app = FastAPI()`, `@app.get(...)`, `class Order(BaseModel)`): steps use the
# real module's objects, so in the sandbox such a value only has to exist.
# It stays a restricted proxy, refused when workflow code uses it.
loading = 0


def _call_while_loading(self: RestrictedProxy, *args: Any, **kwargs: Any) -> Any:
    if loading:
        name: str = object.__getattribute__(self, "_wdk_name")
        return RestrictedProxy(f"{name}()", object.__getattribute__(self, "_wdk_passthrough"))
    self._wdk_refuse()


def _getitem_while_loading(self: RestrictedProxy, item: Any) -> Any:
    if loading:
        name: str = object.__getattribute__(self, "_wdk_name")
        return RestrictedProxy(f"{name}[...]", object.__getattribute__(self, "_wdk_passthrough"))
    self._wdk_refuse()


def _mro_entries_while_loading(self: RestrictedProxy, bases: tuple[Any, ...]) -> tuple[Any, ...]:
    # The sandbox's copy of such a class is replaced by the real one after
    # loading (sandbox._share_classes); here the restricted base just drops out.
    if loading:
        return ()
    self._wdk_refuse()


setattr(RestrictedProxy, "__call__", _call_while_loading)  # noqa: B010
setattr(RestrictedProxy, "__getitem__", _getitem_while_loading)  # noqa: B010
setattr(RestrictedProxy, "__mro_entries__", _mro_entries_while_loading)  # noqa: B010


class PartialModule(types.ModuleType):
    """A real module of which only `allowed` names (and `overrides`) may be used."""

    def __init__(
        self,
        real: types.ModuleType,
        allowed: Iterable[str] = (),
        overrides: dict[str, Any] | None = None,
        *,
        passthrough: str | None = None,
    ) -> None:
        super().__init__(real.__name__, real.__doc__)
        for name in allowed:
            if hasattr(real, name):
                self.__dict__[name] = getattr(real, name)
        self.__dict__.update(overrides or {})
        self.__dict__["__wdk_real__"] = real
        self.__dict__["__wdk_passthrough__"] = passthrough

    def __getattr__(self, attr: str) -> Any:
        real = self.__dict__["__wdk_real__"]
        if attr.startswith("__") or not hasattr(real, attr):
            raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")
        return RestrictedProxy(f"{self.__name__}.{attr}", self.__dict__["__wdk_passthrough__"])


# --- random, secrets, os.urandom, uuid -------------------------------------------


def _loop_random(name: str, module: str = "random") -> Callable[..., Any]:
    what = f"{module}.{name}()"

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(current_loop(what).random, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


_NOT_SEEDED = (
    "{} reads the operating system's entropy, which a replay cannot repeat: use the "
    f"random module's functions (seeded per run) or {_STEP}"
)


def _random_module() -> PartialModule:
    overrides: dict[str, Any] = {
        name: _loop_random(name) for name in random.__all__ if name[0].islower()
    }
    overrides["SystemRandom"] = _error_callable(
        "random.SystemRandom", _NOT_SEEDED.format("random.SystemRandom")
    )
    return PartialModule(random, ["Random"], overrides)


def _token_bytes(nbytes: int | None = None) -> bytes:
    loop = current_loop("secrets.token_bytes()")
    return loop.random.randbytes(secrets.DEFAULT_ENTROPY if nbytes is None else nbytes)


def _token_hex(nbytes: int | None = None) -> str:
    return _token_bytes(nbytes).hex()


def _token_urlsafe(nbytes: int | None = None) -> str:
    return base64.urlsafe_b64encode(_token_bytes(nbytes)).rstrip(b"=").decode("ascii")


def _secrets_module() -> PartialModule:
    overrides: dict[str, Any] = {
        "token_bytes": _token_bytes,
        "token_hex": _token_hex,
        "token_urlsafe": _token_urlsafe,
        "choice": _loop_random("choice", "secrets"),
        "randbits": _loop_random("getrandbits", "secrets"),
        "SystemRandom": _error_callable(
            "secrets.SystemRandom", _NOT_SEEDED.format("secrets.SystemRandom")
        ),
    }
    randrange = _loop_random("randrange", "secrets")

    def randbelow(exclusive_upper_bound: int) -> int:
        if exclusive_upper_bound <= 0:
            raise ValueError("Upper bound must be positive.")
        return int(randrange(exclusive_upper_bound))

    overrides["randbelow"] = randbelow
    return PartialModule(secrets, ["compare_digest", "DEFAULT_ENTROPY"], overrides)


def _urandom(size: int) -> bytes:
    return current_loop("os.urandom()").random.randbytes(size)


def _uuid4() -> uuid.UUID:
    return uuid.UUID(int=current_loop("uuid.uuid4()").random.getrandbits(128), version=4)


def _uuid_module() -> PartialModule:
    mac = "{} reads the host's network address and clock: use uuid.uuid4() (deterministic in workflows)"
    overrides = {
        "uuid4": _uuid4,
        "uuid1": _error_callable("uuid.uuid1", mac.format("uuid.uuid1()")),
        "getnode": _error_callable("uuid.getnode", mac.format("uuid.getnode()")),
    }
    allowed = ["UUID", "SafeUUID", "uuid3", "uuid5", "RFC_4122"]
    allowed += [n for n in dir(uuid) if n.startswith(("NAMESPACE_", "RESERVED_"))]
    return PartialModule(uuid, allowed, overrides)


# --- time ---------------------------------------------------------------------------


def _now(what: str) -> float:
    return current_loop(what).time()


def _time_module() -> PartialModule:
    def time_() -> float:
        return _now("time.time()")

    def time_ns() -> int:
        return int(_now("time.time_ns()") * 1_000_000_000)

    def gmtime(secs: float | None = None) -> time.struct_time:
        return time.gmtime(_now("time.gmtime()") if secs is None else secs)

    def ctime(secs: float | None = None) -> str:
        return time.asctime(gmtime(secs))

    def asctime(t: Any = None) -> str:
        return time.asctime(gmtime() if t is None else t)

    def strftime(format: str, t: Any = None) -> str:
        return time.strftime(format, gmtime() if t is None else t)

    overrides: dict[str, Any] = {
        "time": time_,
        "time_ns": time_ns,
        "monotonic": time_,
        "monotonic_ns": time_ns,
        "perf_counter": time_,
        "perf_counter_ns": time_ns,
        "gmtime": gmtime,
        "localtime": gmtime,  # the workflow's local zone is UTC
        "mktime": lambda t: float(calendar.timegm(t)),
        "ctime": ctime,
        "asctime": asctime,
        "strftime": strftime,
        "sleep": _error_callable(
            "time.sleep",
            "time.sleep blocks the workflow: use `await wdk.sleep(...)` "
            "(or `await asyncio.sleep(...)`), which is a durable wait",
        ),
    }
    time_.__name__, time_ns.__name__ = "time", "time_ns"
    return PartialModule(time, ["struct_time", "strptime"], overrides)


# --- datetime -------------------------------------------------------------------------


class _RealInstances(type):
    """Metaclass: isinstance/issubclass against the stand-in test the real class."""

    _wdk_real: type

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._wdk_real)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._wdk_real)


def _utc_naive(t: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(t, _dt.UTC).replace(tzinfo=None)


class date(_dt.date, metaclass=_RealInstances):
    """`datetime.date` whose `today()` is the run's virtual date (UTC)."""

    _wdk_real = _dt.date

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return _dt.date(*args, **kwargs)  # values are real dates

    @classmethod
    def today(cls) -> Any:
        return _utc_naive(_now("datetime.date.today()")).date()

    @classmethod
    def fromtimestamp(cls, t: float) -> Any:
        return _utc_naive(t).date()


class datetime(_dt.datetime, metaclass=_RealInstances):
    """`datetime.datetime` whose clock is the run's virtual time."""

    _wdk_real = _dt.datetime

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # Classmethods such as fromisoformat/combine/strptime build through
        # cls(...), so every value a workflow sees is a real datetime.
        return _dt.datetime(*args, **kwargs)

    @classmethod
    def now(cls, tz: _dt.tzinfo | None = None) -> Any:
        return cls.fromtimestamp(_now("datetime.datetime.now()"), tz)

    @classmethod
    def today(cls) -> Any:
        return _utc_naive(_now("datetime.datetime.today()"))

    @classmethod
    def utcnow(cls) -> Any:
        return _utc_naive(_now("datetime.datetime.utcnow()"))

    @classmethod
    def fromtimestamp(cls, t: float, tz: _dt.tzinfo | None = None) -> Any:
        return _utc_naive(t) if tz is None else _dt.datetime.fromtimestamp(t, tz)


def _datetime_module() -> PartialModule:
    allowed = ["time", "timedelta", "timezone", "tzinfo", "MINYEAR", "MAXYEAR", "UTC"]
    return PartialModule(_dt, allowed, {"date": date, "datetime": datetime})


# --- os, sys, io, pathlib: a few pure names ------------------------------------------------

_OS_PATH_PURE = (
    "join split splitext splitdrive basename dirname normpath normcase isabs commonpath "
    "commonprefix sep altsep extsep pathsep curdir pardir defpath devnull"
).split()
_OS_PURE = (
    "sep altsep extsep pathsep linesep curdir pardir defpath devnull name fspath PathLike".split()
)
_SYS_PURE = (
    "version_info version hexversion api_version maxsize maxunicode platform byteorder "
    "implementation float_info int_info hash_info float_repr_style getrecursionlimit "
    "exc_info exception intern getdefaultencoding getfilesystemencoding"
).split()
_IO_PURE = (
    "StringIO BytesIO SEEK_SET SEEK_CUR SEEK_END IOBase RawIOBase BufferedIOBase "
    "TextIOBase UnsupportedOperation"
).split()


def _os_modules() -> dict[str, PartialModule]:
    os_path = PartialModule(os.path, _OS_PATH_PURE, passthrough="os")
    os_path.__name__ = "os.path"
    os_mod = PartialModule(os, _OS_PURE, {"path": os_path, "urandom": _urandom}, passthrough="os")
    return {"os": os_mod, "os.path": os_path}


def standin_modules() -> dict[str, types.ModuleType]:
    """Fresh stand-ins by module name: deterministic ones, then partial ones.

    The deterministic ones (random, time, datetime, uuid, secrets) win over the
    passthrough list; the partial ones (os, os.path, sys, io, pathlib) do not."""
    return {
        "random": _random_module(),
        "time": _time_module(),
        "datetime": _datetime_module(),
        "uuid": _uuid_module(),
        "secrets": _secrets_module(),
        **_os_modules(),
        "sys": PartialModule(sys, _SYS_PURE, passthrough="sys"),
        "io": PartialModule(io, _IO_PURE, passthrough="io"),
        "pathlib": PartialModule(
            pathlib, ["PurePath", "PurePosixPath", "PureWindowsPath"], passthrough="pathlib"
        ),
    }


DETERMINISTIC = frozenset({"random", "time", "datetime", "uuid", "secrets"})
