"""Which client `wdk.api` talks to: chosen once per event loop from the
configuration, again only when `configure()` changes it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wdk.api import configure, get_run
from wdk.client import current_client
from wdk.client.http import HttpClient
from wdk.client.local import LocalClient
from wdk.runtime import config


@pytest.fixture(autouse=True)
def fresh_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("WDK_SERVER_URL", raising=False)
    config.reset()
    yield
    config.reset()


async def test_the_choice_is_made_once_per_loop_and_again_after_configure() -> None:
    first = current_client()
    assert isinstance(first, LocalClient)
    assert current_client() is first  # not re-checked call by call
    configure(server_url="http://127.0.0.1:9")
    remote = current_client()
    assert isinstance(remote, HttpClient) and remote.base_url == "http://127.0.0.1:9"
    assert current_client() is remote


async def test_the_environment_is_read_when_the_loop_first_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WDK_SERVER_URL", "http://127.0.0.1:9/")
    chosen = current_client()
    assert isinstance(chosen, HttpClient) and chosen.base_url == "http://127.0.0.1:9"
    monkeypatch.delenv("WDK_SERVER_URL")
    assert current_client() is chosen  # this loop keeps its choice


async def test_a_run_handle_keeps_the_client_it_was_made_with() -> None:
    local = get_run("wrun_x")
    configure(server_url="http://127.0.0.1:9")
    remote = get_run("wrun_x")
    assert local == remote  # the same run...
    assert isinstance(local._client, LocalClient) and isinstance(remote._client, HttpClient)


def test_outside_a_loop_the_configuration_decides_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(current_client(), LocalClient)
    monkeypatch.setenv("WDK_SERVER_URL", "http://127.0.0.1:9")
    assert isinstance(current_client(), HttpClient)
