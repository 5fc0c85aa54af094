"""@step_options: the typed spelling of a step's policy attributes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from wdk import RetryableError, step_options
from wdk.runtime.step_policy import max_attempts, retry_delay, step_timeout


def test_it_sets_the_attributes_the_runtime_reads_and_returns_the_function() -> None:
    async def charge(order_id: str) -> str:
        return order_id

    decorated = step_options(max_retries=5, retry_delay="2s", timeout=timedelta(seconds=30))(charge)
    assert decorated is charge
    assert (getattr(charge, "max_retries"), getattr(charge, "retry_delay")) == (5, "2s")  # noqa: B009
    assert max_attempts(charge) == 6
    assert step_timeout(charge) == 30.0
    assert retry_delay(charge, 3, ValueError()) == 8.0  # 2 s doubled per attempt
    assert retry_delay(charge, 3, RetryableError("busy", retry_after="1s")) == 1.0


def test_options_left_out_keep_the_defaults_and_the_attribute_form() -> None:
    def export() -> None: ...

    export.max_retries = 1  # type: ignore[attr-defined]  # the attribute form still works
    step_options(timeout=5)(export)
    assert (max_attempts(export), step_timeout(export)) == (2, 5.0)
    assert retry_delay(export, 1, ValueError()) == 1.0
    plain = step_options()(lambda: None)
    assert (max_attempts(plain), step_timeout(plain)) == (4, None)


def test_it_reaches_the_function_of_a_staticmethod_or_classmethod() -> None:
    class Billing:
        @step_options(max_retries=0)
        @staticmethod
        async def fee(x: int) -> int:
            return x

        @step_options(timeout="1s")
        @classmethod
        async def rate(cls) -> int:
            return 1

    assert max_attempts(Billing.fee) == 1
    assert step_timeout(Billing.rate) == 1.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_retries": -1}, r"max_retries=\.\.\.\) must be an int >= 0, not -1"),
        ({"max_retries": True}, r"must be an int >= 0, not True"),
        ({"timeout": "30x"}, r"step_options\(timeout=\.\.\.\): cannot parse duration '30x'"),
        ({"retry_delay": [1]}, r"step_options\(retry_delay=\.\.\.\): a duration must be"),
    ],
)
def test_a_bad_value_fails_when_the_module_loads(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        step_options(**options)
