"""`lus-adapter report`: outcome measures and betalningsansvar over the stored cases, as JSON or CSV.

The period is whole Swedish calendar days, --from and --to both included. Open deadlines and the
liability of patients still in hospital are judged as of the end of the period, or now if that is
earlier (or --as-of).
"""

from __future__ import annotations

import csv
import io
import sys
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import orjson
import typer

from adapter.cli.errors import require_database
from adapter.config import Settings
from adapter.process.kalender import STOCKHOLM, day_start
from adapter.process.measures import Compliance, OutcomeMeasures, outcome_measures
from adapter.process.rules import MissingDayAmount
from adapter.rules_config import RULES_FILE, RulesConfigError, load_rules


def report(
    from_: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (YYYY-MM-DD)")],
    to: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day, included")],
    output: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
    agreement: Annotated[
        str | None, typer.Option(help="A betalningsansvar agreement from lus-rules.yaml (default: its own)")
    ] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option("--as-of", help="Judge open deadlines at this Swedish time (YYYY-MM-DDTHH:MM:SS)"),
    ] = None,
) -> None:
    """Outcome measures, deadline compliance and betalningsansvar over the stored cases."""
    from adapter.store.store import Store

    if output not in ("json", "csv"):
        raise typer.BadParameter("json or csv", param_hint="--format")
    if to < from_:
        raise typer.BadParameter("--to is before --from", param_hint="--to")
    settings = Settings()
    try:
        rules = load_rules(settings.config_folder(), agreement)
    except RulesConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    start, end = day_start(from_.date()), day_start(to.date() + timedelta(days=1))
    now = _as_of(as_of, end)
    require_database(settings.database_url)
    store = Store.from_url(settings.database_url)
    try:
        measures = outcome_measures(store.iter_cases(), start, end, rules, now)
    except MissingDayAmount as exc:
        typer.echo(f"{exc} Add it under day_amounts in {RULES_FILE}.", err=True)
        raise typer.Exit(2) from exc
    finally:
        store.engine.dispose()
    document = as_document(measures, now)
    sys.stdout.write(to_csv(document) if output == "csv" else to_json(document))


def _as_of(as_of: datetime | None, end: datetime) -> datetime:
    if as_of is not None:
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=STOCKHOLM)
    return min(datetime.now(STOCKHOLM), end)


def as_document(m: OutcomeMeasures, now: datetime) -> dict[str, Any]:
    """The measures as plain data: the JSON report, and the source of the CSV rows."""
    last_day: date = (m.end - timedelta(days=1)).date()
    return {
        "period": {"from": m.start.date().isoformat(), "to": last_day.isoformat(), "as_of": now.isoformat()},
        "agreement": m.agreement,
        "discharged_after_utskrivningsklar": m.discharged_after_ready,
        "discharged_within_24h": m.discharged_within_24h,
        "share_discharged_within_24h": _share(m.share_within_24h),
        "median_days_utskrivningsklar_to_discharge": m.median_days_ready_to_discharge,
        "p90_days_utskrivningsklar_to_discharge": m.p90_days_ready_to_discharge,
        "deadline_compliance": {
            "by_message_type": {k: _compliance(c) for k, c in m.compliance_by_kind.items()},
            "by_sending_unit": {k: _compliance(c) for k, c in m.compliance_by_unit.items()},
        },
        "planning_meetings_by_site": m.meetings_by_site,
        "needs_category_mix": m.needs_mix,
        "betalningsansvar": [
            {
                "municipality": r.municipality,
                "month": r.month,
                "discharged": r.discharged,
                "ready_days": r.ready_days,
                "liable_days": r.liable_days,
                "amount_kr": r.amount,
            }
            for r in m.betalningsansvar
        ],
    }


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _compliance(c: Compliance) -> dict[str, Any]:
    return {
        "met": c.met,
        "late": c.late,
        "overdue": c.overdue,
        "open": c.open,
        "share_on_time": _share(c.share_on_time),
    }


def to_json(document: dict[str, Any]) -> str:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"


def to_csv(document: dict[str, Any]) -> str:
    """One measure per row (measure, dimension, key, value): easy to filter and pivot."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["measure", "dimension", "key", "value"])
    for name, value in document.items():
        if name == "period":
            writer.writerows(("period", "", k, v) for k, v in value.items())
        elif name == "deadline_compliance":
            for dimension, groups in value.items():
                for key, counts in groups.items():
                    writer.writerows((f"deadline_{m}", dimension, key, _cell(v)) for m, v in counts.items())
        elif name == "betalningsansvar":
            for row in value:
                key = f"{row['municipality']}/{row['month']}"
                for measure in ("discharged", "ready_days", "liable_days", "amount_kr"):
                    writer.writerow((f"betalningsansvar_{measure}", "municipality_month", key, row[measure]))
        elif isinstance(value, dict):
            writer.writerows((name, _DIMENSIONS[name], k, v) for k, v in value.items())
        else:
            writer.writerow((name, "", "", _cell(value)))
    return out.getvalue()


_DIMENSIONS = {"planning_meetings_by_site": "site", "needs_category_mix": "needs_category"}


def _cell(value: Any) -> Any:
    return "" if value is None else value
