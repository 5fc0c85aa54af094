"""Every function shape the runtime supports, for tests/e2e/test_shapes.py.

Run three ways by the test: imported plainly, under `wdk.install_import_hook()`,
and from the client tree of `wdk build`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec

from wdk import get_step_metadata
from wdk.runtime.serde import register_type

# --- methods as steps ---------------------------------------------------------


@dataclass
class Cart:
    items: list[int]

    async def total(self, tax: int = 0) -> int:
        "use step"
        return sum(self.items) + tax + get_step_metadata().attempt - 1

    def count(self) -> int:
        "use step"
        return len(self.items) + get_step_metadata().attempt - 1


class Point(msgspec.Struct):
    x: int
    y: int

    async def norm1(self) -> int:
        "use step"
        get_step_metadata()
        return abs(self.x) + abs(self.y)


class Opaque:
    """Neither a dataclass, a Struct nor a registered class: cannot be a step's `self`."""

    def __init__(self, n: int) -> None:
        self.n = n

    async def show(self) -> int:
        "use step"
        return self.n


class Billing:
    RATE = 3

    @staticmethod
    async def fee(x: int) -> int:
        "use step"
        get_step_metadata()
        return x + 1

    @classmethod
    async def rate(cls, x: int, *, extra: int = 0) -> str:
        "use step"
        return f"{cls.__name__}:{x * cls.RATE + extra}:{get_step_metadata().step_id}"

    @staticmethod
    async def flaky(key: str) -> int:
        "use step"
        attempt = get_step_metadata().attempt
        if attempt < 2:
            raise ConnectionError(f"{key}: attempt {attempt} failed")
        return attempt


Billing.flaky.retry_delay = 0.01  # type: ignore[attr-defined]


async def methods(x: int) -> list[object]:
    "use workflow"
    return [
        await Billing.fee(x),
        await Billing.rate(x, extra=1),
        await Cart([1, 2]).total(x),
        await Cart([4, 5, 6]).count(),
        await Point(-2, 3).norm1(),
        await Billing.flaky("k"),
    ]


async def opaque_self() -> int:
    "use workflow"
    return await Opaque(1).show()


# --- workflows held by a class --------------------------------------------------


class Flows:
    PREFIX = "flows"

    @staticmethod
    async def static_flow(x: int) -> list[object]:
        "use workflow"
        return [await Billing.fee(x), await Flows.label(x)]

    @classmethod
    async def class_flow(cls, x: int) -> list[object]:
        "use workflow"
        return [cls.__name__, await cls.label(x), await Billing.rate(x)]

    @classmethod
    async def label(cls, x: int) -> str:
        "use step"
        return f"{cls.PREFIX}-{x}"


# --- steps nested in a workflow ---------------------------------------------------


async def closure_flow(x: int) -> list[object]:
    "use workflow"
    base = x * 10
    names = {"a": 1}

    async def calc(z: int, scale: int = 2) -> int:
        "use step"
        get_step_metadata()
        return base + z * scale + names["a"]

    def shout(word: str) -> str:
        "use step"
        return f"{word}{'!' * x}"

    first = await calc(1)
    base = 1000  # a captured local is read when the step is called
    return [first, await calc(2, scale=3), await shout("hey")]


class Nested:
    @staticmethod
    async def flow(x: int) -> int:
        "use workflow"
        offset = 7

        async def add(y: int) -> int:
            "use step"
            return y + offset

        return await add(x)


# --- register_type() at module level ------------------------------------------------


class Money:
    """Registered (neither a dataclass nor a Struct): also a method step's `self`."""

    def __init__(self, cents: int, currency: str) -> None:
        self.cents = cents
        self.currency = currency

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and (self.cents, self.currency) == (
            other.cents,
            other.currency,
        )

    def __hash__(self) -> int:
        return hash((self.cents, self.currency))

    async def doubled(self) -> Money:
        "use step"
        get_step_metadata()
        return Money(self.cents * 2, self.currency)


register_type(Money, lambda m: [m.cents, m.currency], lambda v: Money(*v), name="reg:Money")


async def pay(cents: int) -> str:
    "use step"
    return f"paid {cents}"


async def money_flow(amount: Money) -> list[object]:
    "use workflow"
    twice = await amount.doubled()
    return [twice, isinstance(twice, Money), await pay(twice.cents)]


# --- step functions as values ------------------------------------------------------------


async def apply_twice(fn: Callable[[int], Awaitable[int]], x: int) -> int:
    "use step"
    # `fn` arrived as a reference to a step: here, in a step, it runs directly.
    return await fn(await fn(x))


async def pick(name: str) -> Callable[..., Awaitable[object]]:
    "use step"
    return {"fee": Billing.fee, "pay": pay, "rate": Billing.rate}[name]


async def echo(fn: object) -> object:
    "use step"
    return fn


async def refs_flow(x: int) -> list[object]:
    "use workflow"
    offset = 100

    async def shift(y: int) -> int:
        "use step"
        return y + offset

    chosen = await pick("pay")  # a step returns a step: calling it here is a step too
    rate = await pick("rate")
    back = await echo(shift)  # a nested step goes out and comes back with its captures
    return [
        await apply_twice(Billing.fee, x),  # a method step as an argument
        await apply_twice(shift, x),  # a nested step, with what it captured
        await chosen(x),
        await rate(x),
        await back(1),
    ]


async def started_with(fn: Callable[[int], Awaitable[object]], x: int) -> object:
    "use workflow"
    return await fn(x)


def not_a_step(x: int) -> int:
    return x


# --- subclasses: a classmethod step or workflow belongs to the class defining it ------


class PremiumBilling(Billing):
    RATE = 10


async def subclass_rate(x: int) -> str:
    "use workflow"
    return await PremiumBilling.rate(x)


class MoreFlows(Flows):
    PREFIX = "more"
