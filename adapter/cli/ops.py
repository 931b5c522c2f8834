"""Operations commands: `lus-adapter db …`, `deadletters …`, `outbox …` and `audit`."""

from __future__ import annotations

import getpass
import os
import sys
import time
from collections.abc import Sequence
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from adapter.cli.errors import missing_database_file, require_database
from adapter.config import Settings
from adapter.routing.deadletters import (
    DeadLetterFilter,
    NotADeadLetter,
    audit_shown,
    parse_instant,
    requeue,
    select,
    skip,
)
from adapter.security.audit import AuditQuery, audit_key, audit_log, search_hashes
from adapter.store.outbox import OutboxRecord
from adapter.store.store import Store

db_app = typer.Typer(help="The store's schema (Alembic migrations).", no_args_is_help=True)
deadletters_app = typer.Typer(
    help="Messages given up on: list, show, the lines they hold, re-queue (`replay`) or skip.",
    no_args_is_help=True,
)
outbox_app = typer.Typer(
    help="Outbound messages: per case, and those without kvittens.", no_args_is_help=True
)
err = Console(stderr=True, soft_wrap=True)  # a message is one line, piped or not

Format = Annotated[str, typer.Option("--format", help="text or json")]
Since = Annotated[str | None, typer.Option(help="Given up at or after this ISO 8601 time (UTC if no offset)")]
Until = Annotated[str | None, typer.Option(help="Given up before this ISO 8601 time")]


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(deadletters_app, name="deadletters")
    app.add_typer(outbox_app, name="outbox")
    app.command("audit")(audit)


def _operator() -> str:
    """Who runs a command, as the audit trail names them."""
    return f"cli:{getpass.getuser()}"


def _audit_key(settings: Settings) -> bytes:
    """LUS_AUDIT_KEY, for a command that audits what it shows or does; exit 2 if it is refused."""
    try:
        return audit_key(settings)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


def _store() -> Store:
    """The adapter's store, which must exist (these commands read it)."""
    settings = Settings()
    require_database(settings.database_url)
    return Store.from_url(settings.database_url, migrate=settings.database_migrate_on_start)


# --- db ---


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL instead of running it")] = False,
) -> None:
    """Bring the database schema up to date (run once per deployment, before the replicas)."""
    from adapter.store import migrate
    from adapter.store.engine import create_store_engine

    url = Settings().database_url
    if sql:
        sys.stdout.write(migrate.upgrade_sql(url, revision))
        return
    engine = create_store_engine(url)
    before, after = migrate.upgrade(engine, revision)
    engine.dispose()
    err.print(f"schema: {before or '(empty)'} → {after}" if before != after else f"schema already at {after}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and the one this adapter needs; exit 1 if they differ."""
    from adapter.store import migrate
    from adapter.store.engine import create_store_engine

    url = Settings().database_url
    head = migrate.head_revision()
    missing = missing_database_file(url)
    if missing is not None:  # not created just to say that it is empty
        print(f"database: (none)   adapter needs: {head}")
        err.print(f"no database file at {missing}", highlight=False)
        raise typer.Exit(1)
    engine = create_store_engine(url)
    with engine.connect() as conn:
        current = migrate.current_revision(conn)
    engine.dispose()
    print(f"database: {current or '(none)'}   adapter needs: {head}")
    raise typer.Exit(0 if current == head else 1)


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("-m", "--message", help="What changes")]) -> None:
    """For developers: write a migration for what adapter/store/schema.py adds (database at head)."""
    from adapter.store import migrate

    store = _store()
    err.print(f"wrote {migrate.new_revision(store.engine, message)}")


# --- dead letters ---


@deadletters_app.command("list")
def deadletters_list(
    recipient: Annotated[str | None, typer.Option(help="HSA-id of the recipient")] = None,
    since: Since = None,
    until: Until = None,
    output: Format = "text",
) -> None:
    """Dead letters, oldest first."""
    which = _filter(None, recipient, since, until)
    _print_records(_store().dead_letters(which), output, "dead_at")


@deadletters_app.command("show")
def deadletters_show(
    message_id: Annotated[str, typer.Argument(help="The outbound MessageHeader.id")],
) -> None:
    """One outbound message (dead or not): its history, the message itself and the last answer."""
    key = _audit_key(Settings())
    store = _store()
    found = store.outbox_message(message_id)
    if found is None:
        err.print(f"[red]no outbound message {message_id}[/red]")
        raise typer.Exit(1)
    record, body, response = found
    audit_shown(store, message_id, record.case_id, by=_operator(), audit_key=key, via="cli")
    shown: dict[str, Any] = {**record.to_json(), "message": orjson.loads(body)}
    shown["response"] = response.decode(errors="replace") if response else None
    sys.stdout.buffer.write(orjson.dumps(shown, option=orjson.OPT_INDENT_2) + b"\n")


@deadletters_app.command("replay")
def deadletters_requeue(
    message_id: Annotated[str | None, typer.Argument(help="One dead letter's MessageHeader.id")] = None,
    recipient: Annotated[str | None, typer.Option(help="All dead letters to this HSA-id")] = None,
    since: Since = None,
    until: Until = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dead letter")] = False,
) -> None:
    """Re-queue dead letters: send them again, under their original message ids (receivers dedupe)."""
    which = _filter(message_id, recipient, since, until)
    if which == DeadLetterFilter() and not all_:
        err.print("[red]name a message id, --recipient, --since/--until, or --all[/red]")
        raise typer.Exit(2)
    requeued = requeue(_store(), which, by=_operator(), now=time.time(), audit_key=_audit_key(Settings()))
    for mid in requeued:
        print(mid)
    err.print(f"{len(requeued)} message(s) back in the queue")
    raise typer.Exit(0 if requeued or not message_id else 1)


@deadletters_app.command("skip")
def deadletters_skip(
    message_id: Annotated[str, typer.Argument(help="The dead letter's MessageHeader.id")],
    reason: Annotated[str, typer.Option(help="Why it is not to be sent (kept on it and in the audit log)")],
) -> None:
    """Release the line a dead letter holds without sending it (final; audited with the reason)."""
    try:
        record = skip(_store(), message_id, by=f"cli:{getpass.getuser()}", reason=reason, now=time.time())
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    except NotADeadLetter as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    print(record.message_id)
    err.print(f"skipped; the line of case {record.case_id} to {record.recipient} goes on")


@deadletters_app.command("held")
def deadletters_held(
    recipient: Annotated[str | None, typer.Option(help="HSA-id of the recipient")] = None,
    output: Format = "text",
) -> None:
    """The (case, recipient) lines dead letters hold, with the messages waiting; exit 1 if any."""
    lines = _store().held_lines(recipient=recipient)
    rows = [line.to_json() for line in lines]
    if output == "json":
        sys.stdout.buffer.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        table = Table()
        columns = ("case_id", "recipient", "message_id", "dead_at", "waiting")
        for column in (*columns, "last_error"):
            table.add_column(column.replace("_", " "), no_wrap=column in ("message_id", "dead_at"))
        for row in rows:
            cells = ["" if row[c] is None else str(row[c])[: 19 if c == "dead_at" else None] for c in columns]
            table.add_row(*cells, (row["last_error"] or "")[:80])
        Console().print(table)
        err.print(f"{len(rows)} held line(s)")
    raise typer.Exit(1 if rows else 0)


def _filter(
    message_id: str | None, recipient: str | None, since: str | None, until: str | None
) -> DeadLetterFilter:
    try:
        return select(message_id, recipient, since, until)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


# --- outbox ---


@outbox_app.command("case")
def outbox_case(case_id: Annotated[str, typer.Argument()], output: Format = "text") -> None:
    """A case's outbound messages, in sending order, with delivery and kvittens."""
    _print_records(_store().case_messages(case_id), output, "delivered_at")


@outbox_app.command("unacknowledged")
def outbox_unacknowledged(
    older_than: Annotated[
        float | None, typer.Option(help="Seconds since sending (default LUS_KVITTENS_TIMEOUT_SECONDS)")
    ] = None,
    output: Format = "text",
) -> None:
    """Messages with no ok kvittens from their receiver after the configured time; exit 1 if any."""
    age = Settings().kvittens_timeout_seconds if older_than is None else older_than
    records = _store().unacknowledged(age, time.time())
    _print_records(records, output, "created_at")
    raise typer.Exit(1 if records else 0)


def _print_records(records: Sequence[OutboxRecord], output: str, when: str) -> None:
    rows = [r.to_json() for r in records]
    if output == "json":
        sys.stdout.buffer.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n")
        return
    table = Table()
    columns = ("message_id", "case_id", "recipient", "kind", "status", "attempts", when, "kvittens_code")
    for column in (*columns, "last_error"):
        table.add_column(column.replace("_", " "), no_wrap=column in ("message_id", "case_id", when))
    for row in rows:
        cells = ["" if row[c] is None else str(row[c])[: 19 if c == when else None] for c in columns]
        table.add_row(*cells, row["last_error"] or "")
    stdout_console().print(table)
    err.print(f"{len(rows)} message(s)")


def stdout_console() -> Console:
    """Where tables go: a terminal's width (or COLUMNS) on a terminal; piped or redirected, as
    wide as the rows are, so that nothing is cut or wrapped for the program reading them."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=100_000)


# --- audit ---


def audit(
    patient: Annotated[
        str | None,
        typer.Option(
            help="The patient's personnummer or samordningsnummer in any common form, for PDL log review"
        ),
    ] = None,
    party: Annotated[str | None, typer.Option(help="HSA-id of the calling party")] = None,
    since: Annotated[str | None, typer.Option(help="At or after this ISO 8601 time")] = None,
    until: Annotated[str | None, typer.Option(help="Before this ISO 8601 time")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Records per page")] = 1000,
    offset: Annotated[int, typer.Option(min=0, help="Records to skip (the next page: the offset shown)")] = 0,
    newest_first: Annotated[bool, typer.Option("--newest-first", help="Newest records first")] = False,
    output: Format = "text",
) -> None:
    """Who sent, read, replayed or was denied what: the audit log, a page at a time (oldest first
    unless --newest-first); the last line says how many of how many are shown. The identifier
    is hashed with LUS_AUDIT_KEY before the search; it is neither stored nor printed."""
    settings = Settings()
    try:
        window = [parse_instant(t, n) if t else None for t, n in ((since, "since"), (until, "until"))]
        key = audit_key(settings)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    hashes = search_hashes(patient, key) if patient else None
    query = AuditQuery(hashes, party, window[0], window[1])
    page = audit_log(_store(), query, limit=limit, offset=offset, newest_first=newest_first)
    rows = [r.to_json() for r in page.records]
    if output == "json":
        sys.stdout.buffer.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        table = Table()
        columns = ("at", "party", "action", "outcome", "case_id", "message_id")
        for column in columns:
            table.add_column(column.replace("_", " "), no_wrap=column == "at")
        for row in rows:
            table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
        stdout_console().print(table)
    if hashes is not None and len(hashes) > 1:
        err.print("A 10-digit personnummer: both centuries it may belong to were searched.")
    err.print(_shown(len(rows), page.total, offset), markup=False, highlight=False)


def _shown(count: int, total: int, offset: int) -> str:
    """The closing line: how many of how many, and how to see the rest."""
    if count == 0:
        return f"showing 0 of {total} record(s)"
    line = f"showing {count} of {total} record(s) ({offset + 1}-{offset + count})"
    if offset + count < total:
        line += f"; the next page: --offset {offset + count}"
    return line
