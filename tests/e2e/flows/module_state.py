"""Steps that use module-level objects built from modules the sandbox restricts."""

from __future__ import annotations

import argparse
import sqlite3

DB = sqlite3.connect(":memory:", check_same_thread=False)  # a client/pool, as real apps have
DB.execute("CREATE TABLE orders (id TEXT, total INTEGER)")


class Options(argparse.Namespace):  # a class with a base from a restricted module
    pass


def save(order_id: str, total: int) -> int:
    "use step"
    DB.execute("INSERT INTO orders VALUES (?, ?)", (order_id, total))
    return int(DB.execute("SELECT count(*) FROM orders").fetchone()[0])


async def record(order_id: str) -> int:
    "use workflow"
    return await save(order_id, 42)  # type: ignore[misc]


async def misuses_client() -> object:
    "use workflow"
    return DB.execute("SELECT 1")  # I/O in the workflow itself: refused
