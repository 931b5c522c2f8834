"""`lus-adapter play FOLDER --url URL`: post an example case, one Bundle per step, each as its
sender would, to a running adapter in development mode.

A message Bundle goes to `$process-message` with `X-LUS-Party` set to its MessageHeader.sender (as
the mapping rules read it), since a party may only send in its own name; a dialect Bundle (no
MessageHeader) goes to `POST /fhir` as the party `--as` names, or else as the adapter's own party.
Steps run in file-name order and stop at the first that is not accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.markup import escape

from adapter.cli.errors import ConfigurationError
from adapter.config import Settings
from adapter.security.identity import DEVELOPMENT_HEADER


def play(
    folder: Annotated[Path, typer.Argument(help="A folder of Bundles, NN-<step>.json (or one file)")],
    url: Annotated[str, typer.Option(help="The adapter's address")] = "http://127.0.0.1:8080",
    as_party: Annotated[
        str | None,
        typer.Option("--as", help="HSA-id that sends the dialect Bundles (default: the adapter's own party)"),
    ] = None,
) -> None:
    """Post an example case to a running adapter (development mode), each step as its sender."""
    from adapter.cli.ops import stdout_console
    from adapter.fhir.bundle import BundleIndex
    from adapter.mapping.engine import Mapper
    from adapter.validation.validator import Validator

    files = sorted(folder.glob("*.json")) if folder.is_dir() else [folder]
    if not files:
        raise ConfigurationError(f"{folder}: no .json files")
    out = stdout_console()
    settings = Settings()
    mapper = Mapper.from_dir(settings.mappings_dir, Validator.from_path(settings.profiles_dir).package)
    base = url.rstrip("/")
    with httpx.Client(timeout=30) as client:
        for path in files:
            bundle = orjson.loads(path.read_bytes())
            is_message = bundle.get("type") == "message"
            sender = _sender(mapper, BundleIndex(bundle)) if is_message else as_party
            headers = {"Content-Type": "application/fhir+json"}
            if sender:
                headers[DEVELOPMENT_HEADER] = sender
            target = f"{base}/fhir/$process-message" if is_message else f"{base}/fhir"
            try:
                answer = client.post(target, content=path.read_bytes(), headers=headers)
            except httpx.TransportError as exc:
                raise ConfigurationError(
                    f"{url}: cannot connect ({exc})", "is `lus-adapter serve` running there? (--url URL)"
                ) from exc
            who = sender or "(the adapter's own party)"
            colour = "green" if answer.is_success else "red"
            out.print(
                f"{escape(path.name):40} as {who:28} [{colour}]{answer.status_code}[/{colour}]"
                f" {escape(_summary(answer))}"
            )
            if not answer.is_success:
                raise typer.Exit(1)


def _sender(mapper: Any, index: Any) -> str | None:
    from adapter.mapping.inbound import MappingFailed

    try:
        event, _ = mapper.to_event("canonical", index)
    except MappingFailed:
        return None  # the adapter will say what is wrong with it
    return str(event.sender) if event.sender else None


def _summary(answer: httpx.Response) -> str:
    """The answer in a few words: the response code, or the first issue, and the warnings."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:100]
    issues = _issues(body)
    warnings = sum(1 for i in issues if i.get("severity") in ("warning", "information"))
    errors = [i for i in issues if i.get("severity") in ("error", "fatal")]
    first = (body.get("entry") or [{}])[0] if body.get("resourceType") == "Bundle" else {}
    header = first.get("resource") or {}  # a response message's MessageHeader
    # its response code, or a transaction-response's status
    words = str(
        (header.get("response") or {}).get("code") or (first.get("response") or {}).get("status") or ""
    )
    if errors:
        where = ", ".join(errors[0].get("expression") or [])
        said = errors[0].get("diagnostics") or (errors[0].get("details") or {}).get("text", "")
        words = f"{said} {where}".strip()
    return f"{words} ({warnings} warning(s))" if warnings else words


def _issues(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every OperationOutcome issue in an answer (the outcome itself, or inside a Bundle)."""
    if body.get("resourceType") == "OperationOutcome":
        return list(body.get("issue") or [])
    found: list[dict[str, Any]] = []
    for entry in body.get("entry") or []:
        for resource in (entry.get("resource"), (entry.get("response") or {}).get("outcome")):
            if isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome":
                found.extend(resource.get("issue") or [])
    return found
