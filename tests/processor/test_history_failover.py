"""The Redis history survives a new server behind the same endpoint: a restart (empty, new run id), a
restore from an older snapshot (the last writes missing, like a failover to a replica that had not
received them) and containers connected before and after it. redis-py reconnects silently, so only what
the server itself reports (its run id, with every batch) says that it changed."""

from __future__ import annotations

import time

import pytest
from txn_events import failed_ids, kinesis_event, txn_doc

from processor import history, pg_store
from processor.handler import make_handler

pytestmark = pytest.mark.integration


def txn_keys(observer, numbers) -> int:
    return observer.exists(*[f"txn:txn-{n:06d}" for n in numbers])


def batch(first: int, count: int) -> dict:
    return kinesis_event([txn_doc(n) for n in range(first, first + count)], first_seq=first)


@pytest.fixture
def container(settings):
    """Containers of their own (``container()``), each with its own connections; closed afterwards."""
    made = []

    def make():
        handler = make_handler(settings, emit=lambda line: None)
        made.append(handler)
        return handler

    yield make
    for handler in made:
        handler.processor.close()


@pytest.fixture
def rebuilds(monkeypatch) -> list:
    """The outcome of every rebuild step the processors run (True: the history was made complete)."""
    outcomes: list = []
    real = history.rebuild_step

    def spy(*args, **kwargs):
        outcomes.append(real(*args, **kwargs))
        return outcomes[-1]

    monkeypatch.setattr(history, "rebuild_step", spy)
    return outcomes


class PageReads:
    """Every page the rebuild reads from PostgreSQL (its ``after`` key); ``after_read`` runs after each read."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, page_size: int) -> None:
        self.keys: list = []
        self.after_read = lambda: None
        real = pg_store.history_page

        def read(conn, since, after_key, limit):
            self.keys.append(after_key)
            rows = real(conn, since, after_key, limit)
            self.after_read()
            return rows

        monkeypatch.setattr(history, "PAGE_SIZE", page_size)
        monkeypatch.setattr(pg_store, "history_page", read)


def test_a_restart_behind_a_warm_connection_is_rebuilt_and_marked_with_the_new_server(
    container, redis_server, redis_client, pg_conn, rebuilds
):
    warm = container()
    assert failed_ids(warm(batch(0, 200))) == []
    assert redis_client.get("history:ready") == redis_server.run_id()

    rebuilds.clear()  # the first batch made the flushed history complete
    redis_server.restart()  # the node is replaced: same endpoint, empty, a new run id
    new_server = redis_server.run_id()
    assert failed_ids(warm(batch(200, 50))) == []  # redis-py reconnected on its own

    assert redis_client.get("history:ready") == new_server  # the marker names the server that was rebuilt
    assert txn_keys(redis_client, range(250)) == 250
    assert rebuilds == [True]
    assert failed_ids(warm(batch(250, 50))) == [] and rebuilds == [True]  # complete: nothing more to do


def test_a_server_restored_from_an_older_snapshot_gets_the_missing_writes_back(
    container, redis_server, redis_client, pg_conn, tmp_path, rebuilds
):
    warm = container()
    assert failed_ids(warm(batch(0, 100))) == []
    snapshot = redis_server.save_snapshot(str(tmp_path / "before.rdb"))  # holds the marker of this server
    assert failed_ids(warm(batch(100, 100))) == []  # written after the snapshot
    rebuilds.clear()

    redis_server.restart_from_snapshot(snapshot)
    assert txn_keys(redis_client, range(100)) == 100
    assert txn_keys(redis_client, range(100, 200)) == 0  # the later writes are missing ...
    assert failed_ids(warm(batch(200, 10))) == []

    assert txn_keys(redis_client, range(210)) == 210  # ... until the rebuild restores them
    assert redis_client.get("history:ready") == redis_server.run_id()
    assert rebuilds == [True]


def test_containers_connected_before_and_after_a_restart_rebuild_once_between_them(
    container, redis_server, redis_client, pg_conn, rebuilds
):
    before = container()
    assert failed_ids(before(batch(0, 300))) == []
    rebuilds.clear()
    redis_server.restart()
    after = container()  # a new container: its first connection is to the new server

    for n, processor in enumerate([after, before] * 4):
        assert failed_ids(processor(batch(300 + 20 * n, 20))) == []

    assert rebuilds.count(True) == 1, rebuilds  # one rebuild in all, not one per batch
    assert len(rebuilds) == 1
    assert txn_keys(redis_client, range(460)) == 460
    assert redis_client.get("history:ready") == redis_server.run_id()


def test_containers_continue_each_others_rebuild_from_the_cursor_of_that_server(
    container, redis_server, redis_client, pg_conn, rebuilds, monkeypatch
):
    before = container()
    assert failed_ids(before(batch(0, 230))) == []
    rebuilds.clear()
    redis_server.restart()
    after = container()
    pages = PageReads(monkeypatch, page_size=50)

    # A budget of 0 s: each batch's rebuild step copies one page and leaves the rest to the next batch.
    for n, processor in enumerate([before, after, before, after, before]):
        assert failed_ids(processor.processor.process(batch(1000 + n, 1), rebuild_budget_seconds=0)) == []

    assert rebuilds == [False, False, False, False, True]
    assert len(pages.keys) == len(set(pages.keys)) == 5  # each page read once: nobody started over
    assert txn_keys(redis_client, range(230)) == 230
    assert redis_client.get("history:ready") == redis_server.run_id()


def test_a_rebuild_whose_server_changes_midway_is_not_marked_complete(
    container, redis_server, redis_client, pg_conn, rebuilds, monkeypatch
):
    warm = container()
    assert failed_ids(warm(batch(0, 150))) == []
    rebuilds.clear()
    redis_server.restart()
    pages = PageReads(monkeypatch, page_size=100)
    restarted: list = []

    def replace_the_node_once() -> None:  # again, after the rebuild read its first page
        if not restarted:
            restarted.append(redis_server.restart().run_id())

    pages.after_read = replace_the_node_once
    assert failed_ids(warm(batch(150, 1))) == []
    # Nothing may claim the history is complete on a server that got only part of it.
    assert redis_client.get("history:ready") in (None, "")
    assert rebuilds == [False]

    pages.after_read = lambda: None
    assert failed_ids(warm(batch(151, 1))) == []
    assert rebuilds == [False, True]
    assert redis_client.get("history:ready") == redis_server.run_id() == restarted[0]
    assert txn_keys(redis_client, range(152)) == 152  # the batch the lost server took is back from PostgreSQL too


def test_a_rebuild_lock_outlives_the_container_that_took_it_and_then_expires(
    container, redis_server, redis_client, pg_conn, rebuilds, monkeypatch
):
    warm = container()
    assert failed_ids(warm(batch(0, 100))) == []
    rebuilds.clear()
    redis_server.restart()
    server = redis_server.run_id()
    # A container took the lock for this server and died before it could release it.
    redis_client.set(history.lock_key(server), "a-container-that-died", px=60_000)

    other = container()
    assert failed_ids(other(batch(100, 10))) == []
    assert rebuilds == [False] and txn_keys(redis_client, range(100)) == 0  # one rebuild at a time
    assert redis_client.get(history.lock_key(server)) == "a-container-that-died"  # not taken over, not released
    redis_client.pexpire(history.lock_key(server), 1)  # its time runs out (as it would after 60 s)
    time.sleep(0.01)
    assert failed_ids(other(batch(110, 10))) == []
    assert rebuilds == [False, True] and txn_keys(redis_client, range(120)) == 120
