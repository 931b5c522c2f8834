"""Claims of due deliveries, on SQLite and PostgreSQL: the statements use the indexes each planner
has for them (so a claim's cost does not grow with the backlog; bench.claims and bench.drain
measure it), a long line neither holds up other lines nor is walked again at every claim, and a
delivered head wakes the next message of its line at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Select

from adapter.store.outbox import _INDEX_WALKS_ONLY, PARK_SECONDS, due_candidates, first_in_line
from adapter.store.store import NewOutboxItem, Store

NOW = 1_000_000.0


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    found = Store.from_url(database_url)
    yield found
    found.engine.dispose()


def add(store: Store, case_id: str, count: int, at: float, body: bytes = b"{}", line: int = 0) -> None:
    """`count` messages of one case (with `line`, cases of that many each), in one transaction."""
    recipient = "TSTNMT2321000156-K1480"
    with store.transaction() as conn:
        store.outbox_add(
            conn,
            [
                NewOutboxItem(
                    f"{case_id}-{recipient}-{i}",
                    f"src-{case_id}-{i}",
                    f"{case_id}-{i // line}" if line else case_id,
                    recipient,
                    "http://127.0.0.1:9/",
                    "x",
                    b"{}",
                )
                for i in range(count)
            ],
            at,
        )


def plan(store: Store, query: Select[object]) -> str:
    """The plan of `query` as the claim's transaction runs it (on PostgreSQL, with its settings)."""
    with store.engine.begin() as conn:
        if not store.is_sqlite:
            conn.execute(_INDEX_WALKS_ONLY)
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        if store.is_sqlite:
            params: object = tuple(compiled.params[k] for k in compiled.positiontup or ())
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)  # type: ignore[arg-type]
            return "\n".join(str(r[-1]) for r in rows)
        rows = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
        return "\n".join(str(r[0]) for r in rows)


def test_the_claim_walks_the_due_index_and_probes_each_line(store: Store) -> None:
    # The outbox filled up since it was created (an outage), with messages of a real size: no
    # statistics tell the planner so (PostgreSQL would take the due rows for a few and sort them).
    add(store, "case", 3000, NOW - 60, b"x" * 1500, line=3)
    walk = plan(store, due_candidates(NOW, 32))
    assert "ix_outbox_due" in walk and "SCAN outbox" not in walk and "Seq Scan" not in walk, walk
    assert "TEMP B-TREE" not in walk and "Sort" not in walk, walk  # in index order, stops at the limit
    probe = plan(store, first_in_line(list(range(1, 33))))
    assert "ix_outbox_open_lines" in probe, probe


def test_a_long_line_neither_holds_up_others_nor_is_walked_again(store: Store) -> None:
    add(store, "long", 100, NOW - 60)  # all due before the others
    for case in range(3):
        add(store, f"short-{case}", 1, NOW - 30)
    claimed = store.claim_due("w", NOW, limit=4, lease_seconds=3600)
    assert [i.case_id for i in claimed] == ["long", "short-0", "short-1", "short-2"]
    # What waits behind the long line's head was parked: the next claim walks none of it.
    assert store.claim_due("w", NOW + 1, limit=4, lease_seconds=3600) == []
    with store.engine.connect() as conn:
        due = conn.execute(due_candidates(NOW + 1, 1000)).all()
    assert due == []

    head = claimed[0]
    assert store.mark_delivered(head.id, "w", 1, b"{}", NOW + 2)
    [after] = store.claim_due("w", NOW + 2, limit=4, lease_seconds=3600)  # woken at once, not after the park
    assert after.message_id == "long-TSTNMT2321000156-K1480-1"
    assert (
        store.claim_due("w", NOW + PARK_SECONDS + 10, limit=4, lease_seconds=3600) == []
    )  # the rest wait for it
