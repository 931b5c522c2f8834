"""`lus-adapter import DIR|FILE.ndjson`: the data import (adapter/dataimport.py) from the command line,
with a progress bar and a summary."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapter.cli.ops import stdout_console
from adapter.config import Settings
from adapter.dataimport import Journal, Summary, count_units, default_journal, run_import
from adapter.store.store import Store


def import_command(
    source: Annotated[Path, typer.Argument(help="A folder of .ndjson/.json files, or one such file")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and map everything against an empty scratch store")
    ] = False,
    sender: Annotated[
        str | None, typer.Option(help="HSA-id of the party whose export this is (its dialect is used)")
    ] = None,
    journal_path: Annotated[
        Path | None,
        typer.Option("--journal", help="Checkpoint file (default: var/import/<export>-<hash>.ndjson)"),
    ] = None,
    fresh: Annotated[
        bool, typer.Option(help="Forget the checkpoint and go through everything again")
    ] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write every rejection, with its issues, as JSON")
    ] = None,
    send: Annotated[
        bool,
        typer.Option(
            "--send",
            help="Route each imported message to the other parties, like live traffic (default: they"
            " had it from the earlier system; nothing is sent)",
        ),
    ] = False,
) -> None:
    """Import open cases from another planning system's export (FHIR message Bundles)."""
    from adapter.logging import configure_logging
    from adapter.runtime import build_runtime

    console = Console(stderr=True)
    if not source.exists():
        console.print(f"[red]{source} does not exist[/red]")
        raise typer.Exit(2)
    settings = Settings()
    configure_logging("warning", json=settings.log_json)  # the progress bar is the output
    total = count_units(source)
    scratch = tempfile.TemporaryDirectory(prefix="lus-import-dry-run-") if dry_run else None
    if scratch is not None:
        settings = settings.model_copy(update={"database_url": f"sqlite:///{scratch.name}/dry-run.db"})
    journal = None
    if not dry_run:
        path = journal_path or default_journal(source, settings.database_url)
        if fresh:
            path.unlink(missing_ok=True)
        journal = Journal(path)
        console.print(f"Checkpoint: {path}")
    runtime = build_runtime(settings)
    runtime.pipeline.route = send
    touched: set[str] = set()

    def process(raw: bytes) -> tuple[int, bytes, bool]:
        result = runtime.pipeline.process_message(raw, caller=sender)
        if result.status == 200 and result.case_id:
            touched.add(result.case_id)
        return result.status, result.body, result.duplicate

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("Importing" if not dry_run else "Dry run", total=total)

        def show(s: Summary) -> None:
            progress.update(
                task,
                completed=s.handled,
                description=f"{'Dry run' if dry_run else 'Importing'}: {s.accepted} new,"
                f" {s.duplicate} already there, {len(s.rejected)} rejected",
            )

        try:
            summary = run_import(source, process, journal, on_progress=show)
            cases = case_states(runtime.store, touched)
        except KeyboardInterrupt:
            console.print("[yellow]Interrupted. Run the same command again to go on from here.[/yellow]")
            raise typer.Exit(130) from None
        finally:
            runtime.store.engine.dispose()
            if scratch is not None:
                scratch.cleanup()
    print_summary(stdout_console(), summary, dry_run=dry_run, cases=cases, sent=send)
    if report is not None:
        report.write_bytes(
            orjson.dumps(
                [{"where": r.where, "status": r.status, "issues": list(r.issues)} for r in summary.rejected],
                option=orjson.OPT_INDENT_2,
            )
        )
    raise typer.Exit(1 if summary.rejected else 0)


def case_states(store: Store, case_ids: set[str]) -> Counter[str]:
    """How many of these cases are open and how many closed, as the store now holds them."""
    counts: Counter[str] = Counter()
    with store.reading() as conn:
        for case_id in case_ids:
            case = store.load_case(conn, case_id)
            if case is not None:
                counts["closed" if case.state.closed else "open"] += 1
    return counts


def print_summary(
    console: Console,
    summary: Summary,
    *,
    dry_run: bool,
    cases: Counter[str] | None = None,
    sent: bool = False,
) -> None:
    table = Table(title="Import summary (dry run: nothing stored)" if dry_run else "Import summary")
    table.add_column("outcome")
    table.add_column("bundles", justify="right")
    table.add_row("imported now", str(summary.accepted))
    table.add_row("already in the store", str(summary.duplicate))
    table.add_row("handled by an earlier run", str(summary.resumed))
    table.add_row("rejected (this and earlier runs)", str(len(summary.rejected)))
    console.print(table)
    if cases is not None:
        routed = "routed to the other parties (--send)" if sent else "not sent to anyone (--send sends)"
        console.print(
            f"Cases imported now: {cases['open']} open, {cases['closed']} closed (discharged, died or"
            f" cancelled; kept as history). Messages {routed}."
        )
    if not summary.rejected:
        return
    reasons = Counter(r.reason for r in summary.rejected)
    why = Table(title="Rejected, by reason")
    why.add_column("bundles", justify="right")
    why.add_column("reason")
    why.add_column("first at")
    for reason, count in reasons.most_common():
        first = next(r for r in summary.rejected if r.reason == reason)
        why.add_row(str(count), reason, first.where)
    console.print(why)
