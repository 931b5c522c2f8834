"""The data import: open cases loaded from another planning system's export (`lus-adapter import`,
the command in adapter/cli/dataimport.py). Not the schema migrations (adapter/store/migrations/).

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

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
