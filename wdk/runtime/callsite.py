"""Where in the user's code a workflow made a call: the file:line that errors name.

A step call, a wait or a refused sandbox call happens inside wdk, asyncio or a
library; the line worth showing is the innermost frame of the user's own code.
Walking outward from the call finds it, but only within the running task:
a task's stack starts at asyncio's `Handle._run` (or the workflow loop's
`run_until_quiescent`), so a step run by `asyncio.gather(fetch(a), fetch(b))`
has no user frame above it. For those,
`WorkflowLoop.create_task` records where the task was made (the `gather` line)
in the task's context (`task_origin`), and that is the answer.

Each walk is a few frames (the user's frame is usually the next one), and the
file classification is cached, so a call costs O(1) whatever the history.
"""

from __future__ import annotations

import asyncio.events
import contextvars
import os
import sys
import sysconfig
from contextvars import Context, ContextVar
from types import CodeType, FrameType

from wdk.errors import WorkflowSandboxError

__all__ = [
    "describe",
    "is_user_file",
    "located",
    "location",
    "refused",
    "stack_begins_at",
    "task_context",
    "task_origin",
    "user_frame",
]

# Where the innermost user frame was when the running task was created
# (set by WorkflowLoop.create_task; inherited by the tasks it creates).
task_origin: ContextVar[tuple[str, str] | None] = ContextVar("wdk_task_origin", default=None)

# A task's (or any callback's) stack begins here: nothing above it belongs to
# the code that created the task. On the workflow loop, which runs its
# callbacks itself, at `WorkflowLoop.run_until_quiescent` (`stack_begins_at`).
_TASK_BOUNDARY = asyncio.events.Handle._run.__code__
_LOOP_BOUNDARY: CodeType | None = None


def stack_begins_at(code: CodeType) -> None:
    """Callbacks run from `code` (a loop's) begin their stack there."""
    global _LOOP_BOUNDARY
    _LOOP_BOUNDARY = code

_WDK = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {_WDK, os.path.dirname(asyncio.__file__) + os.sep}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            dirs.add(os.path.abspath(paths[key]) + os.sep)
    return tuple(sorted(dirs))


_LIBRARIES = _library_dirs()
_user_files: dict[str, bool] = {}


def is_user_file(filename: str) -> bool:
    """False for wdk, the standard library, installed packages and generated code."""
    known = _user_files.get(filename)
    if known is None:
        known = not (
            filename.startswith("<")  # <frozen ...>, <string> (dataclass methods)
            or filename.startswith(_LIBRARIES)
            or f"{os.sep}site-packages{os.sep}" in filename
            or f"{os.sep}dist-packages{os.sep}" in filename
        )
        _user_files[filename] = known
    return known


def user_frame(frame: FrameType | None) -> FrameType | None:
    """The innermost user frame from `frame` outward, within the running task.

    Workflow code loaded by the sandbox is the user's wherever its file is (an
    application installed into site-packages); other code by its file."""
    while frame is not None:
        code = frame.f_code
        if code is _TASK_BOUNDARY or code is _LOOP_BOUNDARY:
            return None
        if "__wdk_sandboxed__" in frame.f_globals or is_user_file(code.co_filename):
            return frame
        frame = frame.f_back
    return None


# (id of the code, instruction offset) -> (the code, (function name, "file:line")):
# a frame's line number is found by scanning its code's line table, and a step
# call asks it for the same few call sites again and again. Keyed by id (a code
# object hashes its whole contents), and holding the code keeps the id unique.
# Bounded: emptied when full (deploys load code anew).
_places: dict[tuple[int, int], tuple[CodeType, tuple[str, str]]] = {}
_MAX_PLACES = 4096


def _place(frame: FrameType) -> tuple[str, str]:
    code = frame.f_code
    key = (id(code), frame.f_lasti)
    known = _places.get(key)
    if known is not None:
        return known[1]
    if len(_places) >= _MAX_PLACES:
        _places.clear()
    place = (code.co_qualname, f"{code.co_filename}:{frame.f_lineno}")
    _places[key] = (code, place)
    return place


def _where(frame: FrameType | None) -> tuple[str, str] | None:
    """(function name, "file:line") of the user frame from `frame` outward, else
    of the place the running task was created."""
    found = user_frame(frame)
    if found is not None:
        return _place(found)
    return task_origin.get()


def task_context(frame: FrameType | None) -> Context | None:
    """The context for a task created from `frame`, recording where that is;
    None when it is where the parent task was created (the default copy will do)."""
    where = _where(frame)
    if where is None or where is task_origin.get():
        return None
    context = contextvars.copy_context()
    context.run(task_origin.set, where)
    return context


def location(frame: FrameType | None) -> str:
    """ "file:line" of the user's code that made a call, from `frame` outward."""
    if frame is not None:
        # A user frame seen here before (a step call's, usually the first
        # frame): the walk and `_place`, inlined; the same answer.
        code = frame.f_code
        if code is not _TASK_BOUNDARY and "__wdk_sandboxed__" in frame.f_globals:
            known = _places.get((id(code), frame.f_lasti))
            if known is not None:
                return known[1][1]
    where = _where(frame)
    return where[1] if where is not None else "<unknown>"


def describe() -> str:
    """ "checkout() at /app/shop/flows.py:42": the user's code that called the
    caller; "" when there is none to name."""
    where = _where(sys._getframe(1))
    if where is None:
        return ""
    name, place = where
    return f"{name}() at {place}" if name != "<module>" else f"module level at {place}"


def refused(what: str, detail: str) -> WorkflowSandboxError:
    """The sandbox's refusal of `what`, naming the user's line that asked for it:
    `loop.sock_connect() is not allowed in a workflow (in fetch() at shop/io.py:7): ...`."""
    where = describe()
    at = f" (in {where})" if where else ""
    return WorkflowSandboxError(f"{what} is not allowed in a workflow{at}: {detail}")


def located(message: str) -> WorkflowSandboxError:
    """A sandbox error whose message ends with the user's line that caused it."""
    where = describe()
    return WorkflowSandboxError(f"{message} (in {where})" if where else message)
