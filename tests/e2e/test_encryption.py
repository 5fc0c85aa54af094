"""Issue 15 item 7: payloads encrypted at rest (WDK_ENCRYPTION_KEYS), on both worlds.

Raw rows hold no plaintext; a flipped byte or a payload moved to another
event fails authentication; runs started under k1 finish under "k2,k1"; a
missing key is an error naming its id; `wdk inspect` shows "encrypted"
without the keys and the values with them."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from flows import secret_data
from flows.secret_data import MARKER

from wdk.api import get_run, resume_hook, start
from wdk.crypto import EncryptionError, KeyRing
from wdk.runtime import config
from wdk.runtime.engine import get_runtime, shutdown_runtime
from wdk.settings import current_settings
from wdk.worlds.sqlite_keys import RUN_NUM, SEQ_BITS, SEQ_MASK, run_keys

pytest.importorskip("cryptography")

K1 = "k1:" + base64.b64encode(b"1" * 32).decode()
K2 = "k2:" + base64.b64encode(b"2" * 32).decode()


async def _finished_run(token: str) -> str:
    run = await start(secret_data.checkout, MARKER, token)
    await _hook_made(run.id)
    await resume_hook(token, {"approved": MARKER})
    out = await run.result(timeout=20)
    assert out == {"receipt": {"receipt": MARKER + "-receipt"}, "approval": {"approved": MARKER}, "card": MARKER}
    assert [c async for c in run.stream()] == [{"charged": MARKER}]
    return run.id


async def _hook_made(run_id: str) -> None:
    rt = await get_runtime()
    while not await rt.world.list_hooks(run_id):
        await asyncio.sleep(0.02)


async def _raw_rows(e2e_world: str, data_dir: Path) -> bytes:
    """Every stored byte of the store: the SQLite file (and WAL), or the schema's rows."""
    await shutdown_runtime()
    if e2e_world == "local":
        return b"".join(p.read_bytes() for p in data_dir.glob("wdk.sqlite3*"))
    import asyncpg

    settings = current_settings()
    conn = await asyncpg.connect(settings.postgres_url)
    try:
        schema = settings.postgres_schema
        out = []
        for table in ("events", "runs", "stream_chunks", "hooks", "steps", "queue", "blobs"):
            for row in await conn.fetch(f'SELECT * FROM "{schema}".{table}'):
                # bytea as its bytes (its text form is hex, which would hide plaintext)
                out += [v if isinstance(v, bytes) else str(v).encode() for v in row.values()]
        return b"\n".join(out)
    finally:
        await conn.close()


async def test_raw_rows_hold_no_plaintext(e2e_world: str, data_dir: Path) -> None:
    config.configure(encryption_keys=K1)
    run_id = await _finished_run("enc-raw")
    raw = await _raw_rows(e2e_world, data_dir)
    assert b"encrypted" in raw and run_id.encode() in raw  # ids and names stay clear
    assert MARKER.encode() not in raw
    # The control: without encryption the same run leaves the card everywhere.
    config.configure(encryption_keys="")
    await _finished_run("plain-raw")
    assert MARKER.encode() in await _raw_rows(e2e_world, data_dir)


@pytest.mark.local_only("edits rows of the SQLite file by hand")
async def test_a_flipped_byte_or_a_moved_payload_fails_authentication(data_dir: Path) -> None:
    config.configure(encryption_keys=K1)
    run_id = await _finished_run("enc-tamper")
    await shutdown_runtime()
    db = sqlite3.connect(data_dir / "wdk.sqlite3")
    rows = {t: (seq, json.loads(p)) for seq, t, p in db.execute(
        f"SELECT k & {SEQ_MASK}, type, payload FROM events WHERE {run_keys(RUN_NUM)}", (run_id,))}
    seq, step_done = rows["step_completed"]

    def put(seq: int, payload: dict[str, Any]) -> None:
        db.execute(f"UPDATE events SET payload = ?2 WHERE k = (({RUN_NUM}) << {SEQ_BITS}) | ?3",
                   (run_id, json.dumps(payload).encode(), seq))
        db.commit()

    sealed = base64.b64decode(step_done["result"]["v"])
    flipped = sealed[:20] + bytes([sealed[20] ^ 1]) + sealed[21:]
    put(seq, {**step_done, "result": {**step_done["result"], "v": base64.b64encode(flipped).decode()}})
    rt = await get_runtime()
    with pytest.raises(EncryptionError, match="failed authentication"):
        await rt.world.read_events(run_id)
    put(seq, step_done)  # restored: it opens again
    opened = {e.type: e.payload for e in await rt.world.read_events(run_id)}
    assert opened["step_completed"]["result"] == {"receipt": MARKER + "-receipt"}
    # The step's sealed result, moved into run_completed (same run, same field name).
    end_seq, run_done = rows["run_completed"]
    put(end_seq, {**run_done, "result": step_done["result"]})
    with pytest.raises(EncryptionError, match="failed authentication"):
        await rt.world.read_events(run_id)
    db.close()


async def test_rotation_and_a_missing_key(e2e_world: str) -> None:
    config.configure(encryption_keys=K1)
    run = await start(secret_data.checkout, MARKER, "enc-rotate")
    await _hook_made(run.id)
    await shutdown_runtime()
    # k2 is the active key now; k1 still opens what it sealed.
    config.configure(encryption_keys=f"{K2},{K1}")
    await resume_hook("enc-rotate", {"approved": True})
    assert (await get_run(run.id).result(timeout=20))["card"] == MARKER
    raw = (await get_runtime()).world.inner.inner  # type: ignore[attr-defined]  # BlobWorld(EncryptedWorld(world))
    keys = {e.type: e.payload.get("result", e.payload.get("input", e.payload.get("payload")))
            for e in await raw.read_events(run.id)}
    assert keys["run_created"]["k"] == "k1" and keys["run_completed"]["k"] == "k2"
    assert keys["hook_received"]["k"] == "k2"
    await shutdown_runtime()
    # Without k1 the run cannot be read: the error names the key.
    config.configure(encryption_keys=K2)
    with pytest.raises(EncryptionError, match="key 'k1'"):
        await (await get_runtime()).world.read_events(run.id)


def test_key_ring_format() -> None:
    ring = KeyRing.parse(f" {K2} , {K1} ")
    assert ring.active == "k2" and set(ring.keys) == {"k1", "k2"}
    for bad, says in (("k1", "id:<base64"), ("k1:!!", "not base64"), ("k1:" + base64.b64encode(b"x").decode(), "1 bytes"),
                      (f"{K1},{K1}", "twice")):
        with pytest.raises(EncryptionError, match=says):
            KeyRing.parse(bad)


@pytest.mark.local_only("the CLI opens the data dir")
async def test_inspect_and_web_decrypt_with_the_keys_only(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from wdk.cli.main import main
    from wdk.web import create_app

    config.configure(encryption_keys=K1)
    run_id = await _finished_run("enc-views")
    await shutdown_runtime()

    async def web_events() -> str:
        headers = {"authorization": "Bearer t"}
        async with TestClient(TestServer(create_app(api_token="t"), host="127.0.0.1"), headers=headers) as c:
            texts = [await (await c.get(f"/api/runs/{run_id}{path}")).text() for path in ("/events", "/detail", "")]
        await shutdown_runtime()
        return "".join(texts)

    def inspect() -> str:
        out = ""
        for view in (["events", run_id, "--json"], ["run", run_id, "--json"], ["runs", "--json"]):
            assert main(["inspect", *view, "--data-dir", str(data_dir)]) == 0
            out += capsys.readouterr().out
        return out

    for keys, shows, hides in ((K1, MARKER, "encrypted (key k1)"), ("", "encrypted (key k1)", MARKER)):
        config.configure(encryption_keys=keys)
        seen_web = await web_events()
        seen_cli = await asyncio.to_thread(inspect)
        for seen in (seen_web, seen_cli):
            assert shows in seen and hides not in seen, (keys, seen[:2000])


@pytest.mark.parametrize("keys", ["", K1])
async def test_a_large_value_is_stored_once_and_sealed(e2e_world: str, data_dir: Path, keys: str) -> None:
    """Issue 15 item 6 on both worlds: a large value in five places is one row
    of `blobs` (sealed too, with encryption on)."""
    config.configure(encryption_keys=keys)
    value = MARKER + "y" * (300 << 10)
    run = await start(secret_data.big_echo, value)
    assert await run.result(timeout=20) == value
    assert (await get_runtime()).world.name == e2e_world
    events = await (await get_runtime()).world.read_events(run.id)
    assert [e.payload["result"] for e in events if e.type == "step_completed"] == [value]
    raw = await _raw_rows(e2e_world, data_dir)
    copies = raw.count(b"y") / (300 << 10)  # SQLite splits long values over pages: count bytes
    assert copies < 0.2 if keys else 1 <= copies < 1.2, copies
    assert (MARKER.encode() in raw) == (not keys)


async def test_a_debounced_start_is_sealed_too(e2e_world: str, data_dir: Path) -> None:
    """A debounced start's arguments may land in an earlier run (World.debounce_run):
    sealed under the debounce key, they open in whichever run they end up in."""
    from flows import limited

    from wdk.api import start_with

    config.configure(encryption_keys=K1)
    runs = [await start_with(debounce=("0.5s", "enc"))(limited.echo, f"{MARKER}-{i}") for i in range(3)]
    assert len({r.id for r in runs}) == 1
    assert await runs[0].result(timeout=10) == f"{MARKER}-2"
    assert MARKER.encode() not in await _raw_rows(e2e_world, data_dir)
