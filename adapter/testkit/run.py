"""One run of the kit: the other parties' messages sent to the target and each answer checked, what
the target sends received and checked, every exchange and finding kept for the report.

Each finding names the rule broken, so that a vendor reads what to fix and a region what failed:
`response-message`, `ok`, `reliable-messaging`, `invalid-input`, `kvittens`, `delivery`,
`step-table`, `identity`, `profile`, `process`."""

from __future__ import annotations

import contextlib
import copy
import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapter.fhir.ids import random_uuid
from adapter.mapping.engine import Mapper
from adapter.mapping.inbound import MappingFailed
from adapter.process.case import CaseRejected, DischargeCase
from adapter.process.events import Event
from adapter.routing.identity import as_origin, origin_id, resolve_reference
from adapter.routing.parties import PartyUnknown, may_send, receivers
from adapter.routing.steps import StepTable
from adapter.routing.table import RoutingTable
from adapter.testkit.receiver import SYSTEM, Arrival, Receiver
from adapter.testkit.script import Step, event_of, header
from adapter.validation.validator import Validator

FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
ROLES = {"sjukhus": "SV", "vardcentral": "OV", "kommun": "K"}  # the role → the party kind it plays
ACKNOWLEDGES_ALL = {"kommun"}  # the roles that send a kvittens for every message they receive


@dataclass
class Finding:
    rule: str
    text: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.text}"


@dataclass
class Exchange:
    """One message sent to the target or received from it, and what the kit found."""

    title: str
    direction: str  # "to target" or "from target"
    party: str  # the party the kit played in it
    request: str = ""
    status: int | None = None
    answer: str = ""
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings

    def fail(self, rule: str, text: str) -> None:
        self.findings.append(Finding(rule, text))


@dataclass
class Parties:
    """Who plays what: the target's party and a client per party the kit plays."""

    target: str
    clients: dict[str, httpx.Client]  # party → a client presenting its certificate
    system: httpx.Client | None = None  # the target's own system (an adapter target), if played


def client(cert: str, key: str, ca: str, timeout: float) -> httpx.Client:
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    return httpx.Client(verify=context, timeout=timeout)


def _short(data: bytes | str, limit: int = 6000) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), indent=1, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "\n…"


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _diagnostics(outcome: Any) -> str:
    if not isinstance(outcome, dict):
        return ""
    issues = outcome.get("issue") or []
    return "; ".join(str(i.get("diagnostics") or i.get("code")) for i in issues if isinstance(i, dict))[:300]


class Kit:
    def __init__(
        self,
        *,
        role: str,
        target_url: str,
        script: list[Step],
        parties: Parties,
        receiver: Receiver,
        validator: Validator,
        mapper: Mapper,
        routing: RoutingTable,
        steps: StepTable,
        wait: float,
        say: Callable[[str], None] = print,
    ) -> None:
        self.role = role
        self.target_url = target_url
        self.script = script
        self.parties = parties
        self.receiver = receiver
        self.validator = validator
        self.mapper = mapper
        self.routing = routing
        self.steps = steps
        self.wait = wait
        self.say = say
        self.exchanges: list[Exchange] = []
        self.origin_url = mapper.extensions["origin-message"]
        self.case: DischargeCase | None = None  # the case as far as the run has played it
        self.copies: dict[tuple[str, str], str] = {}  # (party, origin id) → the id that party got it by
        self.sent: list[tuple[Step, str]] = []  # kit messages the target received: (step, kit party)
        self._stop = threading.Event()

    @property
    def target(self) -> str:
        return self.parties.target

    # --- the run ---

    def run(self) -> bool:
        received = [s for s in self.script if self.target in s.receivers and s.event.sender != self.target]
        if received:
            self.invalid_input(received[0])
        acks = None
        if self.role in ACKNOWLEDGES_ALL and self.parties.system is not None:
            acks = threading.Thread(target=self.acknowledge, daemon=True)
            acks.start()
        try:
            for step in self.script:
                if step.event.sender == self.target:
                    self.target_sends(step)
                elif self.target in step.receivers:
                    self.send(step)
                self.case = step.after
            if self.role in ACKNOWLEDGES_ALL:
                self.kvittenser()
        finally:
            self._stop.set()
            if acks is not None:
                acks.join(timeout=5)
        for arrival in self.receiver.unexamined():
            if arrival.to != SYSTEM:
                self.examine(arrival, None, "unexpected message from the target")
        return all(e.passed for e in self.exchanges)

    # --- what the kit sends ---

    def _as_known_by(self, step: Step, party: str) -> dict[str, Any]:
        """The message as `party`'s adapter sends it to the target: a copy for the target's party
        alone (it carries its origin id, docs/delivery.md), naming an earlier message of the
        target's by the id under which `party` received it."""
        text = json.dumps(step.bundle)
        for (who, origin), known in self.copies.items():
            if who == party and origin != known:
                text = text.replace(f'"{origin}"', f'"{known}"')
        bundle = dict(json.loads(text))
        head = bundle["entry"][0]["resource"]
        if origin_id(head, self.origin_url) is None:
            head.setdefault("extension", []).append({"url": self.origin_url, "valueId": head["id"]})
        sender = next(e["resource"] for e in bundle["entry"] if e["fullUrl"] == head["sender"]["reference"])
        system = sender["identifier"][0]["system"]  # HSA-ids are named in the system the sender's is
        head["destination"] = [
            {
                "endpoint": self.target_url,
                "receiver": {"identifier": {"system": system, "value": self.target}},
            }
        ]
        return bundle

    def send(self, step: Step) -> None:
        party = step.event.sender
        exchange = Exchange(f"{step.name}: {party} sends {step.kind}", "to target", party)
        self.exchanges.append(exchange)
        http = self.parties.clients.get(party)
        if http is None:
            exchange.fail("setup", f"no client certificate for {party} (--cert/--key)")
            return
        body = json.dumps(self._as_known_by(step, party)).encode()
        exchange.request = _short(body)
        try:
            first = http.post(self.target_url, content=body, headers=FHIR)
        except httpx.HTTPError as exc:
            exchange.fail("transport", f"{step.kind} could not be sent: {exc}")
            return
        exchange.status, exchange.answer = first.status_code, _short(first.content)
        self._check_ok(exchange, step, first)
        try:
            again = http.post(self.target_url, content=body, headers=FHIR)
        except httpx.HTTPError as exc:
            exchange.fail("reliable-messaging", f"the resend could not be sent: {exc}")
            return
        if (again.status_code, _json(again.content)) != (first.status_code, _json(first.content)):
            exchange.fail(
                "reliable-messaging",
                f"a resend got a different response (HTTP {first.status_code}, then HTTP"
                f" {again.status_code}); a message id seen before gets the response it got then",
            )
        else:
            exchange.notes.append("the resend got the same response")
        self.sent.append((step, party))

    def _check_ok(self, exchange: Exchange, step: Step, answer: httpx.Response) -> None:
        if answer.status_code != 200:
            exchange.fail(
                "ok",
                f"a valid {step.kind} got HTTP {answer.status_code} (expected 200 and `ok`):"
                f" {_diagnostics(_json(answer.content))}",
            )
            return
        bundle = _json(answer.content)
        head = header(bundle) if _is_message(bundle) else {}
        response = head.get("response") or {}
        if not head:
            exchange.fail(
                "response-message",
                "the answer is not a FHIR response message (a Bundle of type message whose"
                " MessageHeader.response names the message)",
            )
        elif response.get("identifier") != step.message_id:
            exchange.fail(
                "response-message",
                f"MessageHeader.response.identifier is {response.get('identifier')!r},"
                f" not the message's id {step.message_id}",
            )
        elif response.get("code") != "ok":
            exchange.fail("ok", f"a valid {step.kind} was answered {response.get('code')!r}, not `ok`")
        else:
            exchange.notes.append("answered with a response message, code ok")

    def invalid_input(self, step: Step) -> None:
        """A message that breaks the profile (its Bundle.timestamp is no instant) must get a 4xx
        OperationOutcome; it is sent with new ids, so the case never holds it."""
        party = step.event.sender
        exchange = Exchange(
            f"invalid {step.kind} (Bundle.timestamp is not an instant): {party}", "to target", party
        )
        self.exchanges.append(exchange)
        http = self.parties.clients.get(party)
        if http is None:
            exchange.fail("setup", f"no client certificate for {party} (--cert/--key)")
            return
        bundle = copy.deepcopy(step.bundle)
        bundle["id"] = random_uuid()
        bundle["entry"][0]["resource"]["id"] = random_uuid()
        bundle["timestamp"] = "not-an-instant"
        body = json.dumps(bundle).encode()
        exchange.request = _short(body)
        try:
            answer = http.post(self.target_url, content=body, headers=FHIR)
        except httpx.HTTPError as exc:
            exchange.fail("transport", f"could not be sent: {exc}")
            return
        exchange.status, exchange.answer = answer.status_code, _short(answer.content)
        outcome = _json(answer.content)
        if not 400 <= answer.status_code < 500:
            exchange.fail(
                "invalid-input",
                f"a message that breaks the profile got HTTP {answer.status_code}"
                " (expected a 4xx with an OperationOutcome)",
            )
        elif not (isinstance(outcome, dict) and outcome.get("resourceType") == "OperationOutcome"):
            exchange.fail("invalid-input", f"HTTP {answer.status_code}, but the body is no OperationOutcome")
        else:
            exchange.notes.append(f"HTTP {answer.status_code}: {_diagnostics(outcome)}")

    # --- what the target sends ---

    def target_sends(self, step: Step) -> None:
        """The target's own step: played by its system (driven by the kit when it plays that
        system, else by the vendor when the kit asks), received at each party the step table names."""
        wanted = sorted(step.receivers - {self.target})
        if self.role in ACKNOWLEDGES_ALL and step.kind == "kvittens" and self.parties.system is not None:
            # The kit, as the target's system, acknowledged every message already (acknowledge()).
            return
        if self.parties.system is not None:
            answer = self.parties.system.post(self.target_url, content=json.dumps(step.bundle), headers=FHIR)
            if answer.status_code != 200:
                exchange = Exchange(
                    f"{step.name}: the target's system sends {step.kind}", "to target", SYSTEM
                )
                exchange.status, exchange.answer = answer.status_code, _short(answer.content)
                exchange.request = _short(json.dumps(step.bundle))
                exchange.fail("setup", f"the target refused its own system's {step.kind}")
                self.exchanges.append(exchange)
        else:
            self.say(
                f"waiting for your system to send {step.kind} of case {step.event.case_id} ({step.name})"
            )
        for party in wanted:
            arrival = self.receiver.wait_for(lambda a, p=party: a.to == p and a.kind == step.kind, self.wait)
            if arrival is None:
                exchange = Exchange(f"{step.name}: {step.kind} to {party}", "from target", party)
                exchange.fail(
                    "delivery",
                    f"the target did not send {step.kind} to {party} within {self.wait:g} s"
                    f" (step table: {step.kind} is received by"
                    f" [{', '.join(map(str, self.steps.rule(step.kind).receivers))}])",
                )
                self.exchanges.append(exchange)
                continue
            self.examine(arrival, step, f"{step.name}: {step.kind} to {party}")

    def examine(self, arrival: Arrival, step: Step | None, title: str) -> None:
        exchange = Exchange(title, "from target", arrival.to, request=_short(arrival.body), status=200)
        self.exchanges.append(exchange)
        if arrival.bundle is None or not arrival.header:
            exchange.fail("profile", "the body is not a FHIR message Bundle")
            return
        issues = [i for i in self.validator.validate_message(arrival.bundle) if i.blocking]
        for issue in issues[:10]:
            exchange.fail("profile", f"{issue.expression or 'Bundle'}: {issue.message}")
        if issues:
            return
        if arrival.peer != self.target:
            exchange.fail(
                "identity", f"sent with the client certificate of {arrival.peer}, not of {self.target}"
            )
        try:
            event = event_of(self.mapper, arrival.bundle)
        except MappingFailed as exc:
            for issue in exc.issues[:5]:
                exchange.fail("profile", f"{issue.expression or 'Bundle'}: {issue.message}")
            return
        received_as = event.message_id
        event = as_origin(event, origin_id(arrival.header, self.origin_url))
        self.copies[(arrival.to, event.message_id)] = received_as
        if event.sender != self.target:
            exchange.fail(
                "identity", f"MessageHeader.sender is {event.sender}, not the target's party {self.target}"
            )
        self.step_table(exchange, event, arrival.to, step)

    def step_table(self, exchange: Exchange, event: Event, to: str, step: Step | None) -> None:
        """Who may send what and who receives it, by the region's step table, in the case as played."""
        rule = self.steps.rule(event.kind)
        case = step.before if step is not None else self.case
        parties = [p.hsa_id for p in self.routing.parties]
        event = resolve_reference(event, case, parties) or event
        try:
            if step is not None and event.message_id == step.message_id:
                after = step.after
            elif case is None:
                after = DischargeCase.open(event)
            else:
                after = case.with_event(event)
        except CaseRejected as exc:
            exchange.fail("process", f"{event.kind}: {exc.reason}")
            if case is None:
                return
            after = case  # who may send it is still asked of the case as it was
        broken = may_send(rule, event.sender, case=after, event=event, table=self.routing, steps=self.steps)
        if broken is not None:
            allowed = ", ".join(str(w) for w in broken.allowed)
            exchange.fail("step-table", f"{event.kind} may be sent by [{allowed}]; {event.sender} sent it")
            return
        try:
            named = receivers(rule, case=after, event=event, table=self.routing, steps=self.steps)
        except PartyUnknown as exc:
            exchange.fail("step-table", exc.issue.message)
            return
        if to not in named:
            roles = ", ".join(str(w) for w in rule.receivers)
            exchange.fail("step-table", f"{event.kind} is received by [{roles}]; {to} is not among them")
        else:
            exchange.notes.append(f"valid against the profiles; {event.sender} may send {event.kind} to {to}")

    # --- kvittens ---

    def acknowledge(self) -> None:
        """As the target's own system (an adapter target in a role that acknowledges every message):
        a kvittens for each message its adapter delivered to it."""
        template = next((s for s in self.script if s.kind == "kvittens"), None)
        assert self.parties.system is not None and template is not None
        while True:
            arrival = self.receiver.wait_for(lambda a: a.to == SYSTEM, 0.5)
            if arrival is None:
                if self._stop.is_set():
                    return
                continue
            if arrival.kind in (None, "kvittens"):
                continue
            bundle = copy.deepcopy(template.bundle)
            bundle["id"] = random_uuid()
            head = bundle["entry"][0]["resource"]
            head["id"] = random_uuid()
            head["response"] = {"identifier": arrival.header["id"], "code": "ok"}
            self.parties.system.post(self.target_url, content=json.dumps(bundle), headers=FHIR)

    def kvittenser(self) -> None:
        """Every message the kit sent the target is acknowledged with a kvittens naming it."""
        for step, party in self.sent:
            arrival = self.receiver.wait_for(
                lambda a, p=party, s=step: (
                    a.to == p
                    and a.kind == "kvittens"
                    and (a.header.get("response") or {}).get("identifier") == s.message_id
                ),
                self.wait,
            )
            title = f"kvittens for {step.name} to {party}"
            if arrival is None:
                exchange = Exchange(title, "from target", party)
                exchange.fail(
                    "kvittens",
                    f"no kvittens for {step.kind} {step.message_id} within {self.wait:g} s"
                    f" (the {self.role} acknowledges every message it receives)",
                )
                self.exchanges.append(exchange)
            else:
                self.examine(arrival, None, title)


def _is_message(bundle: Any) -> bool:
    try:
        return bool(bundle["resourceType"] == "Bundle" and bundle["type"] == "message" and header(bundle))
    except (KeyError, IndexError, TypeError):
        return False
