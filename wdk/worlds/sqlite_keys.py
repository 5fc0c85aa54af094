"""The local world's integer keys (schema version 11) and the SQL that reads by them.

A run's number is its row's rowid (`runs.num`). An event's key is
`(run number << 32) | seq`: one run's events are one range of the events
b-tree, and its appends go to the end of it, where SQLite extends the last
page without rebalancing its neighbours.

A step's key is `(run number << 32) | n`, n the call number in the runtime's
correlation ids (`step_<n>_<hash>`, `wdk.runtime.instance.correlation_id`):
a run's steps are created in call order, so its rows are appended at the
end too, and a step commit's update of the previous step and insert of the
next land in the same page. The World API allows any correlation id: one
without a call number, or whose number's key another id already holds, is
kept at `(run number << 32) | 2**31 | seq` (its creating event's seq) and
found through the partial index `steps_other_ids`. Every lookup also checks
the correlation id, so where a row lands decides its cost, never its answer.
"""

from __future__ import annotations

SEQ_BITS = 32
SEQ_MASK = (1 << SEQ_BITS) - 1  # an event key's seq: key & SEQ_MASK
OTHER_IDS = 1 << 31  # the steps keys of correlation ids kept by seq
MAX_SEQ = OTHER_IDS - 1  # a step's seq must fit below OTHER_IDS

# SQL: the number of the run whose id is the statement's first parameter.
RUN_NUM = "SELECT num FROM runs WHERE id = ?1"


def run_keys(num: str) -> str:
    """SQL: the keys of the events (or steps) of the run whose number the SQL expression `num` gives."""
    return f"k BETWEEN ({num}) << {SEQ_BITS} AND (({num}) << {SEQ_BITS}) | {SEQ_MASK}"


# SQL: the steps rows kept by seq of the run numbered ?, by correlation id ?
# (the index's own terms, so SQLite uses steps_other_ids).
OTHER_STEP = f"k >> {SEQ_BITS} = ? AND k & {OTHER_IDS} AND correlation_id = ?"


NUMBERS_KEPT = 4096
_NUMBERS: dict[str, int | None] = {}  # call_number's answers by correlation id (a cache)


def step_key(num: int, correlation_id: str) -> int | None:
    """The key of the step with this correlation id in run `num` when the id has
    a call number and the step got that number's key; else None (kept by seq)."""
    # A step's id is parsed when its row is inserted and looked up again when
    # it completes: the second time comes from _NUMBERS.
    n = _NUMBERS.get(correlation_id, -1)
    if n == -1:
        if len(_NUMBERS) >= NUMBERS_KEPT:
            _NUMBERS.clear()
        n = _NUMBERS[correlation_id] = call_number(correlation_id)
    return None if n is None else (num << SEQ_BITS) | n


def call_number(correlation_id: str) -> int | None:
    """n of a `<kind>_<n>_<...>` correlation id (n of at most 9 ASCII digits), else None."""
    parts = correlation_id.split("_", 2)  # one C call: cheaper than two finds and a slice
    if len(parts) == 3:
        digits = parts[1]
        if 0 < len(digits) < 10 and digits.isascii() and digits.isdigit():
            return int(digits)
    return None
