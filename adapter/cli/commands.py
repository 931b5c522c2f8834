"""`lus-adapter`: serve, deliver, validate and translate from the command line."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from adapter.cli.avvikelser import avvikelser
from adapter.cli.dataimport import import_command
from adapter.cli.errors import ConfigurationError, run_explaining
from adapter.cli.guide import guide_app
from adapter.cli.ops import register as register_ops_commands
from adapter.cli.play import play
from adapter.cli.report import report
from adapter.cli.testkit import testkit
from adapter.config import Settings
from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import Issue, operation_outcome
from adapter.logging import get_logger

if TYPE_CHECKING:
    from adapter.validation.validator import Validator

app = typer.Typer(
    help="LUS adapter: FHIR R4 discharge-planning messages (lag 2017:612).", no_args_is_help=True
)
err = Console(stderr=True, soft_wrap=True)  # a message is one line, piped or not
log = get_logger("adapter.cli")


@contextmanager
def _configuration_refused() -> Iterator[None]:
    """A setting the adapter will not start with (a published LUS_AUDIT_KEY, a missing TLS file):
    its one-sentence reason and exit status 2, not a traceback."""
    try:
        yield
    except ValidationError:
        raise  # an invalid LUS_* value: adapter/cli/errors.py says which, in its two lines
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
    config_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder of parties.yaml, lus-steps.yaml and lus-rules.yaml (default LUS_CONFIG_DIR)"
        ),
    ] = None,
) -> None:
    """Run the HTTP API (and the delivery worker). `--port 0` takes a free port; the log line
    "adapter started" names the URL once the port is bound."""
    from adapter import serving
    from adapter.app import create_app
    from adapter.runtime import settle_heap
    from adapter.security.tls import uvicorn_http_options

    overrides: dict[str, object] = {}
    if worker is not None:  # an unset flag leaves LUS_WORKER its say
        overrides["worker"] = worker
    if host:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if config_dir is not None:
        overrides["config_dir"] = config_dir
    with _configuration_refused():
        settings = Settings(**overrides)  # type: ignore[arg-type]
        settings.config_folder()  # none: say what to set before anything binds or loads
    try:
        sock = serving.bind(settings.host, settings.port)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
            "choose another port with --port P (or LUS_PORT; `make run PORT=P`)",
        ) from exc
    settings = settings.model_copy(update={"port": sock.getsockname()[1]})
    with _configuration_refused():
        application = create_app(settings)
    settle_heap()
    url = serving.listening_url(settings, settings.port)
    runtime = application.state.runtime

    def started() -> None:
        log.info(
            "adapter started",
            url=url,
            fhir_base=runtime.routing.self_.base_url,
            party=runtime.routing.self_.hsa_id,
            worker=settings.worker,
        )

    serving.run(application, sock, started, **uvicorn_http_options(settings))


@app.command()
def deliver(
    once: Annotated[bool, typer.Option(help="Deliver what is due now, then exit")] = False,
) -> None:
    """Run the delivery worker alone (beside `serve --no-worker`, or as a separate replica)."""
    from adapter.logging import configure_logging
    from adapter.runtime import build_runtime, settle_heap

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
        str,
        typer.Option(
            "--format",
            help="text, or json: one JSON list with, per file, its name, whether it is valid and"
            " an OperationOutcome",
        ),
    ] = "text",
) -> None:
    """Validate files; exit 1 if any has an error."""
    from adapter.validation.validator import Validator

    if output not in ("text", "json"):
        raise typer.BadParameter("text or json", param_hint="--format")
    settings = Settings()
    validator = Validator.from_path(
        settings.profiles_dir,
        settings.extra_packages_dir,
        unknown_modifier_extensions=settings.unknown_modifier_extensions,
    )
    results: list[dict[str, object]] = []
    all_valid = True
    for path in files:
        issues, problem = _validate_file(validator, path, profile)
        valid = problem is None and not any(i.blocking for i in issues)
        all_valid &= valid
        if output == "json":
            outcome = operation_outcome(issues) if problem is None else _unreadable(problem)
            results.append({"file": str(path), "valid": valid, "outcome": outcome})
        elif problem is not None:
            err.print(f"{escape(str(path))}: [red]{escape(problem)}[/red]", highlight=False)
        else:
            verdict = "[green]valid[/green]" if valid else "[red]invalid[/red]"
            err.print(f"{escape(str(path))}: {verdict}", highlight=False)
            for issue in issues:
                err.print(f"  {issue.severity:8} {issue.expression or '-'}: {issue.message}", markup=False)
    if output == "json":
        sys.stdout.buffer.write(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    raise typer.Exit(0 if all_valid else 1)


def _validate_file(validator: Validator, path: Path, profile: str | None) -> tuple[list[Issue], str | None]:
    """The issues of one file, or why it could not be read as a FHIR resource."""
    try:
        resource = orjson.loads(path.read_bytes())
    except OSError as exc:
        return [], f"cannot read: {exc.strerror or exc}"
    except orjson.JSONDecodeError as exc:
        return [], f"not JSON: {exc}"
    if not isinstance(resource, dict):
        return [], "not a FHIR resource (a JSON object)"
    return validator.validate(resource, profile), None


def _unreadable(problem: str) -> dict[str, object]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "fatal", "code": "structure", "diagnostics": problem}],
    }


@app.command()
def translate(
    file: Annotated[Path, typer.Argument(help="A message Bundle")],
    dialect: Annotated[
        str | None,
        typer.Option(help="The sender's dialect (mappings/<dialect>/); default: from the Bundle's type"),
    ] = None,
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
    if dialect is None:
        dialect = dialects.detect(bundle) if isinstance(bundle, dict) else None
        if dialect is None:
            kind = bundle.get("type") if isinstance(bundle, dict) else None
            raise ConfigurationError(
                f"{file}: cannot tell its dialect from Bundle.type {kind!r}",
                f"pass --dialect, one of: {', '.join(sorted(dialects.names()))}",
            )
        err.print(f"dialect: {dialect} (from Bundle.type)", highlight=False)
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
app.command()(play)
app.command()(report)
app.command()(avvikelser)
app.command()(testkit)
register_ops_commands(app)
app.add_typer(guide_app, name="guide")


def main() -> None:
    import logging

    import structlog

    # Until a command configures logging (serve and deliver do): warnings and errors only, on
    # stderr, so that what a command prints on stdout (validate --format json, translate, report)
    # stays one parseable document and a mistake is said in its own two lines.
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )
    run_explaining(app)
