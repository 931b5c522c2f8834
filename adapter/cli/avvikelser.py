"""`lus-adapter avvikelser`: the avvikelser export (adapter/read/avvikelser.py) over the stored cases."""

from __future__ import annotations

import getpass
import sys
from datetime import datetime
from typing import Annotated

import typer

from adapter.process.kalender import STOCKHOLM
from adapter.read.avvikelser import (
    Period,
    as_document,
    audit_export,
    collect,
    parse_month,
    parties_from,
    to_csv,
    to_json,
)


def avvikelser(
    from_: Annotated[str, typer.Option("--from", help="First month (YYYY-MM)")],
    to: Annotated[str | None, typer.Option("--to", help="Last month, included (default: --from)")] = None,
    output: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
    detail: Annotated[bool, typer.Option(help="CSV: one row per deviation, not counts")] = False,
    as_of: Annotated[
        datetime | None,
        typer.Option("--as-of", help="Judge open deadlines at this Swedish time (YYYY-MM-DDTHH:MM:SS)"),
    ] = None,
) -> None:
    """Avvikelser per party and month over the stored cases (for the regional follow-up)."""
    from adapter.config import Settings
    from adapter.routing.steps import StepsConfigError, load_step_table
    from adapter.routing.table import RoutingError, load_routing_table
    from adapter.rules_config import RulesConfigError, load_rules
    from adapter.security.audit import audit_key
    from adapter.store.store import Store

    if output not in ("json", "csv"):
        raise typer.BadParameter("json or csv", param_hint="--format")
    try:
        period = Period(first=parse_month(from_, "--from"), last=parse_month(to or from_, "--to"))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    settings = Settings()
    try:
        rules = load_rules(settings.config_folder())
        parties = parties_from(
            load_routing_table(settings.config_folder()), load_step_table(settings.config_folder())
        )
        key = audit_key(settings)
    except (RulesConfigError, RoutingError, StepsConfigError, ValueError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    now = _as_of(as_of, period.end)
    store = Store.from_url(settings.database_url, migrate=settings.database_migrate_on_start)
    try:
        found = collect(store.iter_cases(), period, rules, parties, now)
        audit_export(store, found, f"cli:{getpass.getuser()}", key, period)
    finally:
        store.engine.dispose()
    document = as_document(found.deviations, period, now, rules)
    sys.stdout.write(to_csv(document, detail=detail) if output == "csv" else to_json(document))


def _as_of(as_of: datetime | None, end: datetime) -> datetime:
    if as_of is not None:
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=STOCKHOLM)
    return min(datetime.now(STOCKHOLM), end)
