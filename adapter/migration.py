"""`lus-adapter import DIR|FILE.ndjson`: load open cases from another planning system's export.

Regions replace their planning systems (Lifecare SP, Cosmic Link, Prator, …); this is how the open
cases move. The export is FHIR message Bundles: `.ndjson` files (one Bundle per line) and `.json`
files (one Bundle each), in a folder or as one file, read in name order. Every Bundle takes the
one road, `Pipeline.process_message`, so nothing skips validation, mapping or the case rules. The
other parties had these messages from the earlier system: by default nothing is routed to them
again (the cases, deadlines and history are built, no delivery is queued); `--send` routes each
imported message like live traffic. Closed cases (discharged, died, cancelled) are imported too, as
history that the report and betalningsansvar read; the summary counts open and closed cases.

Resumable: a journal (one JSON line per Bundle handled, flushed as it goes) records where the
import stands; run the same command again after an interruption and it goes on where it stopped.
A Bundle that was stored just before a crash and not yet journalled is answered as a duplicate by
the pipeline's Idempotent Receiver: never imported twice.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapter.cli_ops import stdout_console
from adapter.config import Settings
from adapter.store.store import Store

SUFFIXES = (".ndjson", ".json")


@dataclass(frozen=True)
class Unit:
    """One Bundle of the export: where it is and its bytes."""

    source: str  # path relative to the import root (the file name for a single file)
    line: int  # 1-based line of an .ndjson file; 1 for a .json file
    raw: bytes

    @property
    def key(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def digest(self) -> str:
        """Changes when the Bundle does: a line fixed after a rejection is handled again."""
        return hashlib.sha256(self.raw).hexdigest()[:16]


@dataclass(frozen=True)
class Rejection:
    where: str  # file:line
    status: int
    issues: tuple[dict[str, str | None], ...]  # rule, expression, message

    @property
    def reason(self) -> str:
        first = self.issues[0] if self.issues else {}
        return f"{first.get('rule') or 'rejected'}: {first.get('message') or ''}".strip()


@dataclass
class Summary:
    accepted: int = 0
    duplicate: int = 0  # already in the store (imported before, or sent by a party already)
    resumed: int = 0  # handled by an earlier run of the same import
    rejected: list[Rejection] = field(default_factory=list)  # this run's and earlier runs'
    rejected_now: int = 0

    @property
    def handled(self) -> int:
        return self.resumed + self.accepted + self.duplicate + self.rejected_now

    def add(self, outcome: str, rejection: Rejection | None) -> None:
        if outcome == "accepted":
            self.accepted += 1
        elif outcome == "duplicate":
            self.duplicate += 1
        elif rejection is not None:
            self.rejected.append(rejection)
            self.rejected_now += 1


# --- the export ---


def sources(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in SUFFIXES)


def units(root: Path) -> Iterator[Unit]:
    base = root.parent if root.is_file() else root
    for path in sources(root):
        name = path.relative_to(base).as_posix()
        if path.suffix == ".json":
            yield Unit(name, 1, path.read_bytes())
            continue
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    yield Unit(name, number, line.strip())


def count_units(root: Path) -> int:
    total = 0
    for path in sources(root):
        if path.suffix == ".json":
            total += 1
            continue
        with path.open("rb") as lines:
            total += sum(1 for line in lines if line.strip())
    return total


# --- the journal (checkpoint) ---


class Journal:
    """Append-only: one line per Bundle handled, with its outcome. A torn last line (the process
    killed mid-write) is ignored: that Bundle is handled again, and dedupe answers it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def read(self) -> dict[str, dict[str, Any]]:
        done: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return done
        for line in self.path.read_bytes().splitlines():
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            done[record["unit"]] = record
        return done

    def write(self, unit: Unit, outcome: str, rejection: Rejection | None) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        record: dict[str, Any] = {"unit": unit.key, "digest": unit.digest, "outcome": outcome}
        if rejection is not None:
            record["status"] = rejection.status
            record["issues"] = list(rejection.issues)
        self._file.write(orjson.dumps(record) + b"\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def default_journal(root: Path, database_url: str) -> Path:
    """One journal per export and target store, under var/import/."""
    digest = hashlib.sha256(f"{root.resolve()}|{database_url}".encode()).hexdigest()[:16]
    return Path("var") / "import" / f"{root.name}-{digest}.ndjson"


# --- the import ---

Process = Callable[[bytes], tuple[int, bytes, bool]]  # raw → (status, body, duplicate)


def outcome_of(unit: Unit, status: int, body: bytes, duplicate: bool) -> tuple[str, Rejection | None]:
    if status == 200:
        return ("duplicate" if duplicate else "accepted"), None
    try:
        outcome = orjson.loads(body)
        issues = tuple(
            {
                "rule": ((i.get("details") or {}).get("coding") or [{}])[0].get("code"),
                "expression": (i.get("expression") or [None])[0],
                "message": i.get("diagnostics"),
            }
            for i in outcome.get("issue", [])
            if i.get("severity") in ("fatal", "error")
        )
    except (orjson.JSONDecodeError, AttributeError, IndexError):
        issues = ({"rule": None, "expression": None, "message": body[:200].decode(errors="replace")},)
    return "rejected", Rejection(unit.key, status, issues)


def run_import(
    root: Path,
    process: Process,
    journal: Journal | None,
    *,
    on_progress: Callable[[Summary], None] = lambda _s: None,
) -> Summary:
    """Every Bundle of the export not handled before, through `process`, journalled one by one."""
    summary = Summary()
    done = journal.read() if journal else {}
    try:
        for unit in units(root):
            record = done.get(unit.key)
            if record is not None and record.get("digest") == unit.digest:
                summary.resumed += 1
                if record["outcome"] == "rejected":
                    issues = tuple(record.get("issues", ()))
                    summary.rejected.append(Rejection(unit.key, int(record.get("status", 0)), issues))
            else:
                outcome, rejection = outcome_of(unit, *process(unit.raw))
                if journal is not None:
                    journal.write(unit, outcome, rejection)
                summary.add(outcome, rejection)
            on_progress(summary)
    finally:
        if journal is not None:
            journal.close()
    return summary


# --- the command ---


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
