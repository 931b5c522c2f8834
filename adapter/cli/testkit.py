"""`lus-adapter testkit`: the command line of the test kit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adapter.config import PROJECT_ROOT, Settings

ROLE_HELP = "The target's role: sjukhus, vardcentral or kommun"


def testkit(
    role: Annotated[str, typer.Option(help=ROLE_HELP)],
    target: Annotated[str, typer.Option(help="The target's $process-message URL (https://…)")],
    cert: Annotated[
        list[Path], typer.Option(help="Client certificate (PEM) of a party the kit plays; once per party")
    ],
    key: Annotated[list[Path], typer.Option(help="Its key (PEM), in the same order as --cert")],
    ca: Annotated[Path, typer.Option(help="CA (PEM) the target's and the senders' certificates chain to")],
    listen: Annotated[
        str,
        typer.Option(
            help="HOST:PORT of the kit's receiver; the target sends to https://HOST:PORT/<HSA-id>/$process-message"
        ),
    ] = "127.0.0.1:8443",
    server_cert: Annotated[
        Path | None,
        typer.Option(
            help="Server certificate of the kit's receiver (default: the first --cert, which a"
            " target that checks the certificate's use for servers refuses)"
        ),
    ] = None,
    server_key: Annotated[Path | None, typer.Option(help="Its key")] = None,
    system_cert: Annotated[
        Path | None,
        typer.Option(
            help="For a target that is an adapter: the client certificate of its own party's system;"
            " the kit then plays that system (sends the role's own steps, acknowledges as it must)"
        ),
    ] = None,
    system_key: Annotated[Path | None, typer.Option(help="Its key")] = None,
    case: Annotated[Path, typer.Option(help="Folder of the example case's messages, in order")] = PROJECT_ROOT
    / "examples"
    / "bundles"
    / "canonical",
    wait: Annotated[float, typer.Option(help="Seconds to wait for each message the target must send")] = 30.0,
    report_html: Annotated[Path | None, typer.Option(help="Write the HTML report here")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here")] = None,
) -> None:
    """Play the other parties of a whole case against a vendor's system (or an adapter) over mTLS;
    exit 1 if any check fails (README, "The test kit")."""
    from adapter.mapping.engine import Mapper
    from adapter.routing.steps import load_step_table
    from adapter.routing.table import load_routing_table
    from adapter.testkit.receiver import Receiver
    from adapter.testkit.report import summary, write_html, write_junit
    from adapter.testkit.run import ROLES, Kit, Parties, client
    from adapter.testkit.script import load_script
    from adapter.validation.validator import Validator

    if role not in ROLES:
        raise typer.BadParameter(f"one of {', '.join(ROLES)}", param_hint="--role")
    if len(cert) != len(key):
        raise typer.BadParameter("give one --key per --cert", param_hint="--key")
    settings = Settings()
    validator = Validator.from_path(settings.profiles_dir, settings.extra_packages_dir)
    mapper = Mapper.from_dir(settings.mappings_dir, validator.package)
    routing = load_routing_table(settings.config_folder())
    steps = load_step_table(settings.config_folder())
    script = load_script(case, mapper, routing, steps)
    kind = ROLES[role]
    target_party = next(
        (s.event.sender for s in script if (p := routing.party(s.event.sender)) and p.kind == kind),
        None,
    ) or next((p.hsa_id for p in routing.parties if p.kind == kind), None)
    if target_party is None:
        raise typer.BadParameter(f"the routing table has no party of kind {kind}", param_hint="--role")
    timeout = max(wait, 10.0)
    clients = {}
    for c, k in zip(cert, key, strict=True):
        party = _certificate_party(c, settings.tls_party_attribute)
        clients[party] = client(str(c), str(k), str(ca), timeout)
    system = (
        client(str(system_cert), str(system_key), str(ca), timeout) if system_cert and system_key else None
    )
    host, _, port = listen.rpartition(":")
    receiver = Receiver(
        host or "127.0.0.1",
        int(port),
        cert=server_cert or cert[0],
        key=server_key or key[0],
        ca=ca,
        parties=tuple(clients),
    )
    with receiver.serving():
        print(
            f"LUS test kit: role {role} ({target_party}) at {target}; receiving at {receiver.url('<HSA-id>')}"
        )
        kit = Kit(
            role=role,
            target_url=target,
            script=script,
            parties=Parties(target_party, clients, system),
            receiver=receiver,
            validator=validator,
            mapper=mapper,
            routing=routing,
            steps=steps,
            wait=wait,
        )
        passed = kit.run()
    for http in [*clients.values(), *([system] if system else [])]:
        http.close()
    print(summary(role, target, kit.exchanges))
    if report_html:
        write_html(report_html, role, target, kit.exchanges)
    if junit:
        write_junit(junit, role, kit.exchanges)
    raise typer.Exit(0 if passed else 1)


def _certificate_party(path: Path, attribute: str) -> str:
    """The party a client certificate names (the subject attribute the adapter reads it from)."""
    from cryptography import x509

    from adapter.security.identity import party_attribute

    cert = x509.load_pem_x509_certificate(path.read_bytes())
    values = cert.subject.get_attributes_for_oid(party_attribute(attribute))
    if not values:
        raise typer.BadParameter(f"{path}: the subject has no {attribute}", param_hint="--cert")
    return str(values[0].value)
