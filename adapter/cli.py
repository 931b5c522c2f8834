"""`lus-adapter`: serve, deliver, validate and translate from the command line."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from adapter.avvikelser_report import avvikelser
from adapter.cli_ops import register as register_ops_commands
from adapter.config import Settings
from adapter.guide.cli import guide_app
from adapter.migration import import_command
from adapter.report import report
from adapter.validation.bundle import BundleIndex
from adapter.validation.issues import operation_outcome

app = typer.Typer(
    help="LUS adapter: FHIR R4 discharge-planning messages (lag 2017:612).", no_args_is_help=True
)
err = Console(stderr=True)


@contextmanager
def _configuration_refused() -> Iterator[None]:
    """A setting the adapter will not start with (a published LUS_AUDIT_KEY, a missing TLS file):
    its one-sentence reason and exit status 2, not a traceback."""
    try:
        yield
    except ValueError as exc:
        err.print(f"lus-adapter: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default LUS_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default LUS_PORT or 8080)")] = None,
    worker: Annotated[
        bool | None,
        typer.Option(help="Run the delivery worker in this process (default LUS_WORKER or yes)"),
    ] = None,
) -> None:
    """Run the HTTP API (and the delivery worker)."""
    import uvicorn

    from adapter.app import create_app, settle_heap
    from adapter.security.tls import uvicorn_http_options

    overrides: dict[str, object] = {}
    if worker is not None:  # an unset flag leaves LUS_WORKER its say
        overrides["worker"] = worker
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    with _configuration_refused():
        settings = Settings(**overrides)  # type: ignore[arg-type]
        application = create_app(settings)
    settle_heap()
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        **uvicorn_http_options(settings),
    )


@app.command()
def deliver(
    once: Annotated[bool, typer.Option(help="Deliver what is due now, then exit")] = False,
) -> None:
    """Run the delivery worker alone (beside `serve --no-worker`, or as a separate replica)."""
    from adapter.app import build_runtime, settle_heap
    from adapter.logging import configure_logging

    with _configuration_refused():
        settings = Settings()
        configure_logging(settings.log_level, json=settings.log_json)
        worker = build_runtime(settings).delivery_worker()
    settle_heap()
    if once:
        while worker.run_once():
            pass
        return
    stop = threading.Event()
    try:
        worker.run_forever(stop, settings.worker_poll_seconds)
    except KeyboardInterrupt:
        stop.set()


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="FHIR JSON files (message Bundles or resources)")],
    profile: Annotated[
        str | None,
        typer.Option(
            help="Canonical URL of the profile to validate against (default: the"
            " LUS message profiles for a message Bundle, else meta.profile or R4)"
        ),
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="text or json (an OperationOutcome per file)")
    ] = "text",
) -> None:
    """Validate files; exit 1 if any has an error."""
    from adapter.validation.validator import Validator

    settings = Settings()
    validator = Validator.from_path(settings.profiles_dir, settings.extra_packages_dir)
    failed = False
    for path in files:
        try:
            resource = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            err.print(f"[red]{path}: cannot read: {exc}[/red]")
            failed = True
            continue
        if not isinstance(resource, dict):
            err.print(f"[red]{path}: not a FHIR resource (a JSON object)[/red]")
            failed = True
            continue
        issues = validator.validate(resource, profile)
        failed |= any(i.blocking for i in issues)
        if output == "json":
            sys.stdout.buffer.write(
                orjson.dumps(operation_outcome(issues), option=orjson.OPT_INDENT_2) + b"\n"
            )
            continue
        verdict = "[red]invalid[/red]" if any(i.blocking for i in issues) else "[green]valid[/green]"
        err.print(f"{path}: {verdict}")
        for issue in issues:
            err.print(f"  {issue.severity:8} {issue.expression or '-'}: {issue.message}", markup=False)
    raise typer.Exit(1 if failed else 0)


@app.command()
def translate(
    file: Annotated[Path, typer.Argument(help="A message Bundle")],
    dialect: Annotated[str, typer.Option(help="The sender's dialect (mappings/<dialect>/)")] = "canonical",
    sender: Annotated[
        str | None, typer.Option(help="HSA-id of the sender, for a dialect without MessageHeader")
    ] = None,
) -> None:
    """Print the process events a FHIR message carries, as JSON. A dialect Bundle is read as if
    its case did not exist yet (no store is opened)."""
    from adapter.mapping.dialects import Dialects, Rejection
    from adapter.mapping.engine import Mapper
    from adapter.mapping.inbound import MappingFailed
    from adapter.process.events import event_to_dict
    from adapter.validation.validator import Validator

    settings = Settings()
    validator = Validator.from_path(settings.profiles_dir)
    mapper = Mapper.from_dir(settings.mappings_dir, validator.package)
    bundle = orjson.loads(file.read_bytes())
    dialects = Dialects.from_dir(settings.mappings_dir, mapper)
    form = dialects.get(dialect)
    translation = None
    try:
        if form is not None:
            translation = dialects.to_canonical(form, bundle, sender or "unknown-sender", None)
            bundle, dialect = translation.bundle, "canonical"
        event, warnings = mapper.to_event(dialect, BundleIndex(bundle))
    except (MappingFailed, Rejection) as exc:
        issues = translation.relocate(exc.issues) if translation else exc.issues
        sys.stdout.buffer.write(orjson.dumps(operation_outcome(issues), option=orjson.OPT_INDENT_2) + b"\n")
        raise typer.Exit(1) from exc
    if translation is not None:
        warnings = translation.relocate(translation.warnings + warnings)
    for warning in warnings:
        err.print(f"[yellow]warning[/yellow] {warning.expression}: {warning.message}")
    sys.stdout.buffer.write(orjson.dumps([event_to_dict(event)], option=orjson.OPT_INDENT_2) + b"\n")


app.command(name="import")(import_command)
app.command()(report)
app.command()(avvikelser)
register_ops_commands(app)
app.add_typer(guide_app, name="guide")


def main() -> None:
    app()
