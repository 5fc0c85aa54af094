"""Must FAIL `mypy --strict`, exactly where `# E:` says (tests/test_typing.py).

Each marked line is a mistake a user could make with the public API; its
end-of-line comment (E, the error code in brackets, the start of the
message) is the error mypy must report there. Unmarked lines must have none."""

from __future__ import annotations

from wdk import step_options
from wdk.api import get_run, run_sync, start, start_with


async def checkout(order_id: str, express: bool = False) -> str:
    "use workflow"
    return order_id


async def charge(order_id: str) -> int:
    "use step"
    return len(order_id)


async def client() -> None:
    await start(checkout, 17)  # E: [call-overload] No overload variant of "start" matches argument types "Callable[[str, bool], Coroutine[Any, Any, str]]", "int"
    await start(checkout)  # E: [call-overload] No overload variant of "start" matches argument type "Callable[[str, bool], Coroutine[Any, Any, str]]"
    await start(checkout, "o1", expres=True)  # E: [call-arg] Unexpected keyword argument "expres" for "start"; did you mean "express"?
    await start(checkout, "o1", idempotency_key="o1")  # E: [call-arg] Unexpected keyword argument "idempotency_key" for "start"
    run = await start(checkout, "o1")
    count: int = await run.result()  # E: [assignment] Incompatible types in assignment (expression has type "str", variable has type "int")
    await start_with(idempotency_key=17)(checkout, "o1")  # E: [arg-type] Argument "idempotency_key" to "start_with" has incompatible type "int"; expected "str | None"
    await start_with(idempotency_key="o1")(checkout, express="yes")  # E: [call-overload] No overload variant of "__call__" of "Starter" matches argument types
    late: int = await get_run("wrun_x").status()  # E: [assignment] Incompatible types in assignment (expression has type "Literal['pending', 'running', 'blocked', 'completed', 'failed', 'cancelled']", variable has type "int")
    print(count, late)


def script() -> None:
    total: int = run_sync(checkout, "o1")  # E: [assignment] Incompatible types in assignment (expression has type "str", variable has type "int")
    run_sync(checkout, "o1", True, "extra")  # E: [call-overload] No overload variant of "run_sync" matches argument types
    print(total)


@step_options(max_retries="5")  # E: [arg-type] Argument "max_retries" to "step_options" has incompatible type "str"; expected "int | None"
async def refund(order_id: str) -> None:
    "use step"


@step_options(timeout=[30])  # E: [arg-type] Argument "timeout" to "step_options" has incompatible type "list[int]"
async def ship(order_id: str) -> None:
    "use step"


# Why the decorator exists: mypy refuses attributes set on a function.
charge.max_retries = 5  # E: [attr-defined] "Callable[[str], Coroutine[Any, Any, int]]" has no attribute "max_retries"
