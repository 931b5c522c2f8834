"""Dialects: a vendor's Bundle shape ↔ the canonical LUS message Bundle.

Inbound, a dialect Bundle becomes a canonical message Bundle, which then takes the canonical road
(validation, `mappings/canonical/` rules, the process). Outbound, the canonical Bundle rendered for
a recipient becomes that recipient's dialect. What each dialect reads and infers is declared in
`mappings/<dialect>/_dialect.yaml`; this module holds the two shapes vendors use:

- `transaction`: a FHIR transaction Bundle without MessageHeader; the event is inferred from the
  resources and the case's previous state (`events:` in the YAML, first match wins).
- `communication`: a transaction Bundle with one Communication whose category is the LUS event
  code; the message's resources are contained, its focus is `payload.contentReference`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from adapter.configfile import load_model
from adapter.fhir.bundle import BundleIndex
from adapter.fhir.ids import Namespace, as_uuid
from adapter.fhir.issues import Issue
from adapter.fhir.rejected import Rejected
from adapter.mapping.engine import Mapper
from adapter.mapping.inbound import _resolve_resources
from adapter.mapping.rules import Compiled, MappingError, compile_fhirpath
from adapter.process.case import DischargeCase

DIALECT_FILE = "_dialect.yaml"
CANONICAL = "canonical"
_NS = Namespace("0d5f0c62-5a53-4c1e-9f0a-3b7e4c2a9d17")
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]\.resource")
_READ_URL = re.compile(r"url\s*=\s*%(\w+)")
NO_COMMUNICATION = Issue(
    "error", "required", "The Bundle holds no Communication.", "Bundle.entry", "dialect:communication"
)
_ALWAYS_READ = {"resourceType", "id", "meta", "text", "contained"}


class EventRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: str
    when: str
    focus: str = "encounter"  # the resource name that becomes MessageHeader.focus


class DialectFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    form: Literal["transaction", "communication"]
    profile: str | None = None  # canonical URL (profiles/) of the Bundle, or of the Communication
    message_id: str  # FHIRPath over the message resource (transaction: the Bundle)
    timestamp: str
    case_id: str = ""  # transaction: FHIRPath over %encounter, to load the previous case state
    event: str = ""  # communication: FHIRPath giving the LUS event code
    focus: str = ""  # communication: FHIRPath giving the focus reference
    resources: dict[str, str] = {}  # transaction: name → resource type among the entries
    events: list[EventRule] = []
    structural: dict[str, list[str]] = {}  # type → elements the form itself consumes
    conditional_update: dict[str, str] = {}  # outbound transaction: type → search parameter


@dataclass
class Dialect:
    name: str
    spec: DialectFile
    expressions: dict[str, Compiled]
    events: list[tuple[EventRule, Compiled]]


@dataclass
class Translation:
    """A dialect message as the canonical message Bundle, and how to point back into the original."""

    bundle: dict[str, Any]
    origins: list[str | None]  # per canonical entry: FHIRPath of its resource in the original
    warnings: list[Issue] = field(default_factory=list)
    original: dict[str, Any] = field(default_factory=dict)

    def relocate(self, issues: list[Issue]) -> list[Issue]:
        return [replace(i, expression=self.locate(i.expression)) for i in issues]

    def locate(self, expression: str | None) -> str | None:
        match = _ENTRY.match(expression or "")
        if expression is None or match is None:
            return expression
        index = int(match.group(1))
        origin = self.origins[index] if index < len(self.origins) else None
        return origin + expression[match.end() :] if origin else expression


class Rejection(Rejected):
    """A dialect message that does not translate to a canonical one."""


def _compile(expression: str, where: str) -> Compiled:
    """fhirpathpy itself: the conditions read %case, an object the rules' fast path does not
    evaluate alike (`%case.on_leave = false`)."""
    return compile_fhirpath(expression, where, fast=False)


def _load(path: Path, name: str) -> Dialect:
    spec = load_model(path, DialectFile, MappingError)
    exprs = {
        key: _compile(text, f"{path}: {key}")
        for key in ("message_id", "timestamp", "case_id", "event", "focus")
        if (text := getattr(spec, key))
    }
    events = [(rule, _compile(rule.when, f"{path}: event {rule.event}")) for rule in spec.events]
    needed = {"transaction": ("case_id",), "communication": ("event", "focus")}[spec.form]
    if missing := [key for key in needed if key not in exprs]:
        raise MappingError(f"{path}: a {spec.form} dialect needs {', '.join(missing)}")
    for rule in spec.events:
        if rule.focus not in spec.resources:
            raise MappingError(f"{path}: event {rule.event} has focus {rule.focus!r}, not a named resource")
    return Dialect(name, spec, exprs, events)


class Dialects:
    """Every dialect in the mappings folder, and the conversions both ways."""

    def __init__(self, dialects: dict[str, Dialect], mapper: Mapper) -> None:
        self.dialects = dialects
        self.env = mapper.env  # the rules' own variables: %cs_lus_event, %ext_…
        self.rules = mapper.rules  # the canonical rules say what a message's resources map
        self.hsa = mapper.terms.system("hsa-id")

    @classmethod
    def from_dir(cls, mappings_dir: Path, mapper: Mapper) -> Dialects:
        found = {
            p.parent.name: _load(p, p.parent.name) for p in sorted(mappings_dir.glob(f"*/{DIALECT_FILE}"))
        }
        events = mapper.terms.codes("lus-event")
        for dialect in found.values():
            for rule in dialect.spec.events:
                if rule.event not in events:
                    raise MappingError(
                        f"mappings/{dialect.name}/{DIALECT_FILE}: event {rule.event!r} is not a code of"
                        f" CodeSystem lus-event ({', '.join(events)})"
                    )
        return cls(found, mapper)

    def names(self) -> set[str]:
        """Every dialect a party may name: these forms and every folder of rule files."""
        return {CANONICAL, *self.dialects, *(dialect for dialect, _ in self.rules)}

    def get(self, name: str) -> Dialect | None:
        return self.dialects.get(name)

    def detect(self, bundle: dict[str, Any]) -> str | None:
        """The dialect a Bundle's shape says (a message Bundle: canonical; a transaction holding a
        Communication: the communication form; any other transaction: the transaction form), or
        None when that is no dialect or more than one."""
        kind = bundle.get("type") if bundle.get("resourceType") == "Bundle" else None
        if kind == "message":
            return CANONICAL
        if kind != "transaction":
            return None
        form = "communication" if self.communication(bundle)[1] is not None else "transaction"
        fitting = [name for name, d in self.dialects.items() if d.spec.form == form]
        return fitting[0] if len(fitting) == 1 else None

    # --- inbound ---

    def message_id(self, dialect: Dialect, bundle: dict[str, Any], sender: str) -> str | None:
        """The id a resend keeps: deduplication happens on it before anything is inferred."""
        root = bundle if dialect.spec.form == "transaction" else self.communication(bundle)[1]
        return self._message_id(dialect, root, sender) if root else None

    def _message_id(self, dialect: Dialect, root: dict[str, Any], sender: str) -> str | None:
        """The sender's own id (Bundle.identifier, Bundle.id …) made unique across senders: two
        vendors that both number their Bundles from 1 never answer each other's messages."""
        own = _first_str(dialect.expressions["message_id"], root, self.env)
        return _NS.uuid(f"{dialect.name}|{sender}|{own}") if own else None

    def case_id(self, dialect: Dialect, bundle: dict[str, Any]) -> str | None:
        if dialect.spec.form != "transaction":
            return None
        named, _ = self._named(dialect, bundle)
        encounter = named.get("encounter")
        return _first_str(dialect.expressions["case_id"], encounter, self.env) if encounter else None

    def to_canonical(
        self, dialect: Dialect, bundle: dict[str, Any], sender: str, case: dict[str, Any] | None
    ) -> Translation:
        """The canonical message Bundle. `case` is the previous case state (None: no case yet)."""
        if dialect.spec.form == "transaction":
            translation = self._from_transaction(dialect, bundle, sender, case)
        else:
            translation = self._from_communication(dialect, bundle, sender)
        translation.warnings.extend(self._unmapped(dialect, translation))
        translation.original = bundle
        return translation

    def _named(
        self, dialect: Dialect, bundle: dict[str, Any]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
        named: dict[str, dict[str, Any]] = {}
        where: dict[str, int] = {}
        wanted = {rtype: name for name, rtype in dialect.spec.resources.items()}
        for i, entry in enumerate(_entries(bundle)):
            resource = entry.get("resource") or {}
            name = wanted.get(str(resource.get("resourceType")))
            if name and name not in named:
                named[name], where[name] = resource, i
        return named, where

    def _from_transaction(
        self, dialect: Dialect, bundle: dict[str, Any], sender: str, case: dict[str, Any] | None
    ) -> Translation:
        named, where = self._named(dialect, bundle)
        absent: dict[str, Any] = {name: [] for name in dialect.spec.resources}
        context = {**self.env, **absent, **named, "bundle": bundle, "case": case if case is not None else []}
        rule = next(
            (
                r
                for r, when in dialect.events
                if "encounter" in named and _true(when, named["encounter"], context)
            ),
            None,
        )
        if rule is None:
            raise Rejection(
                [
                    Issue(
                        "error",
                        "not-supported",
                        f"Dialect {dialect.name}: no event rule matches this transaction"
                        f" ({'a known case' if case else 'no case yet'});"
                        f" see mappings/{dialect.name}/{DIALECT_FILE}.",
                        f"Bundle.entry[{where['encounter']}].resource" if "encounter" in where else "Bundle",
                        f"dialect:{dialect.name}:event",
                    )
                ]
            )
        entries = [
            {"fullUrl": _full_url(e, i, bundle), "resource": e["resource"]}
            for i, e in enumerate(_entries(bundle))
        ]
        origins: list[str | None] = [f"Bundle.entry[{i}].resource" for i in range(len(entries))]
        if rule.focus not in where:  # a condition that matched without its focus resource
            raise Rejection(
                [
                    Issue(
                        "error",
                        "required",
                        f"Dialect {dialect.name}: {rule.event} needs a {dialect.spec.resources[rule.focus]}.",
                        "Bundle.entry",
                        f"dialect:{dialect.name}:focus",
                    )
                ]
            )
        focus_url = entries[where[rule.focus]]["fullUrl"]
        return self._message(dialect, bundle, rule.event, focus_url, sender, entries, origins)

    def communication(self, bundle: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        """The first Communication of a Bundle and its entry's index (-1, None: there is none)."""
        for i, entry in enumerate(_entries(bundle)):
            resource = entry.get("resource") or {}
            if resource.get("resourceType") == "Communication":
                return i, resource
        return -1, None

    def _from_communication(self, dialect: Dialect, bundle: dict[str, Any], sender: str) -> Translation:
        at, comm = self.communication(bundle)
        if comm is None:
            raise Rejection([NO_COMMUNICATION])
        path = f"Bundle.entry[{at}].resource"
        code = _first_str(dialect.expressions["event"], comm, self.env)
        focus = _first_str(dialect.expressions["focus"], comm, self.env)
        if not code or not focus:
            raise Rejection(
                [
                    Issue(
                        "error",
                        "required",
                        f"Communication.category needs a coding of {self.env['cs_lus_event']} (the LUS event)"
                        " and payload.contentReference the focus (a contained resource).",
                        f"{path}.category" if not code else f"{path}.payload",
                        f"dialect:{dialect.name}:event",
                    )
                ]
            )
        message_id = _first_str(dialect.expressions["message_id"], comm, self.env) or ""
        urls = {f"#{r.get('id')}": _urn(message_id, str(r.get("id"))) for r in comm.get("contained") or []}
        entries: list[dict[str, Any]] = []
        origins: list[str | None] = []
        for i, resource in enumerate(comm.get("contained") or []):
            entries.append({"fullUrl": urls[f"#{resource.get('id')}"], "resource": _rewrite(resource, urls)})
            origins.append(f"{path}.contained[{i}]")
        if focus not in urls:
            raise Rejection(
                [
                    Issue(
                        "error",
                        "not-found",
                        f"payload.contentReference {focus} is not a contained resource.",
                        f"{path}.payload",
                        f"dialect:{dialect.name}:focus",
                    )
                ]
            )
        translation = self._message(dialect, comm, code, urls[focus], sender, entries, origins, bundle)
        known = _ALWAYS_READ | set(dialect.spec.structural.get("Communication", []))
        translation.warnings.extend(
            # Entry 0 of the canonical Bundle is the MessageHeader, located at the Communication.
            _warning(
                f"Communication.{key} is not mapped; ignored.", f"Bundle.entry[0].resource.{key}", dialect
            )
            for key in comm
            if key not in known and not key.startswith("_")
        )
        return translation

    def _message(
        self,
        dialect: Dialect,
        root: dict[str, Any],
        event: str,
        focus_url: str,
        sender: str,
        entries: list[dict[str, Any]],
        origins: list[str | None],
        bundle: dict[str, Any] | None = None,
    ) -> Translation:
        """A canonical message Bundle: a MessageHeader, then the resources."""
        message_id = self._message_id(dialect, root, sender)
        timestamp = _first_str(dialect.expressions["timestamp"], root, self.env)
        sender_url = next((e["fullUrl"] for e in entries if self._is_org(e["resource"], sender)), None)
        if sender_url is None:
            sender_url = _urn("organization", sender)
            entries.append({"fullUrl": sender_url, "resource": self.organization(sender)})
            origins.append(None)
        header = {
            "resourceType": "MessageHeader",
            "id": message_id,
            "eventCoding": {"system": self.env["cs_lus_event"], "code": event},
            "sender": {"reference": sender_url},
            "source": {"name": f"{dialect.name} dialect of {sender}", "endpoint": f"urn:hsa:{sender}"},
            "focus": [{"reference": focus_url}],
        }
        canonical = {
            "resourceType": "Bundle",
            "id": _NS.uuid(f"canonical|{message_id}"),
            "type": "message",
            "timestamp": timestamp,
            "entry": [{"fullUrl": f"urn:uuid:{_uuid(str(message_id))}", "resource": header}, *entries],
        }
        head_origin = (
            "Bundle" if bundle is None else f"Bundle.entry[{self.communication(bundle)[0]}].resource"
        )
        return Translation(canonical, [head_origin, *origins])

    def _is_org(self, resource: dict[str, Any], hsa_id: str) -> bool:
        return resource.get("resourceType") == "Organization" and any(
            i.get("value") == hsa_id for i in resource.get("identifier") or []
        )

    def organization(self, hsa_id: str) -> dict[str, Any]:
        return {
            "resourceType": "Organization",
            "identifier": [
                {
                    "type": {
                        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PRN"}]
                    },
                    "system": self.hsa,
                    "value": hsa_id,
                }
            ],
        }

    def _unmapped(self, dialect: Dialect, translation: Translation) -> list[Issue]:
        """Warnings for what the original carries that no rule reads: never silently dropped."""
        bundle = translation.bundle
        index = BundleIndex(bundle)
        header = bundle["entry"][0]["resource"]
        rule = self.rules.get((CANONICAL, header["eventCoding"]["code"]))
        read: dict[int, set[str]] = {}
        if rule is not None:
            scope, _ = _resolve_resources(rule, index)  # as the mapper resolves them
            for _, holder, element in rule.resources:  # a reference followed is read
                if holder in scope:
                    read.setdefault(id(scope[holder]), set()).add(element.split(".")[0])
            for compiled in rule.fields:
                resource = scope.get(compiled.rule.source)
                if resource is not None:
                    top = re.match(r"\w+", compiled.rule.path)
                    urls = {str(self.env.get(v)) for v in _READ_URL.findall(compiled.rule.path)}
                    read.setdefault(id(resource), set()).update({top.group(0)} if top else set())
                    read.setdefault(id(resource), set()).update(f"extension:{u}" for u in urls)
        warnings = []
        for k, (entry, source) in enumerate(zip(bundle["entry"], translation.origins, strict=True)):
            resource = entry["resource"]
            if k == 0 or source is None:
                continue
            origin = f"Bundle.entry[{k}].resource"  # located in the original with the other issues
            rtype = str(resource.get("resourceType"))
            seen = read.get(id(resource))
            if seen is None:
                warnings.append(
                    _warning(
                        f"{rtype} is not read by the {header['eventCoding']['code']} rules; ignored.",
                        origin,
                        dialect,
                    )
                )
                continue
            keep = seen | _ALWAYS_READ | set(dialect.spec.structural.get(rtype, []))
            for key in resource:
                if key.startswith("_") or key in keep:
                    continue
                if key == "extension" and "extension" in seen:
                    for i, ext in enumerate(resource["extension"]):
                        if f"extension:{ext.get('url')}" not in seen:
                            warnings.append(
                                _warning(
                                    f"extension {ext.get('url')} is not mapped; ignored.",
                                    f"{origin}.extension[{i}]",
                                    dialect,
                                )
                            )
                    continue
                warnings.append(
                    _warning(f"{rtype}.{key} is not mapped; ignored.", f"{origin}.{key}", dialect)
                )
        return warnings

    # --- outbound ---

    def from_canonical(self, name: str, bundle: dict[str, Any]) -> dict[str, Any]:
        """The canonical message Bundle rendered for a recipient, in the recipient's dialect."""
        dialect = self.dialects.get(name)
        if dialect is None:
            return bundle
        if dialect.spec.form == "transaction":
            return self._to_transaction(dialect, bundle)
        return self._to_communication(bundle)

    def _to_transaction(self, dialect: Dialect, bundle: dict[str, Any]) -> dict[str, Any]:
        header = bundle["entry"][0]["resource"]
        entries = []
        for entry in bundle["entry"][1:]:
            resource = entry["resource"]
            rtype = resource["resourceType"]
            param = dialect.spec.conditional_update.get(rtype)
            ident = (resource.get("identifier") or [{}])[0]
            if param and ident.get("value"):
                token = f"{ident['system']}|{ident['value']}" if ident.get("system") else ident["value"]
                request = {"method": "PUT", "url": f"{rtype}?{param}={token}"}
            else:
                request = {"method": "POST", "url": rtype}
            entries.append({"fullUrl": entry["fullUrl"], "resource": resource, "request": request})
        return _transaction(header["id"], bundle["timestamp"], entries)

    def _to_communication(self, bundle: dict[str, Any]) -> dict[str, Any]:
        header = bundle["entry"][0]["resource"]
        ids = {e["fullUrl"]: f"r{i}" for i, e in enumerate(bundle["entry"][1:], 1)}
        refs = {url: f"#{local}" for url, local in ids.items()}
        contained = [{**_rewrite(e["resource"], refs), "id": ids[e["fullUrl"]]} for e in bundle["entry"][1:]]
        recipient = ((header.get("destination") or [{}])[0].get("receiver") or {}).get("identifier")
        communication: dict[str, Any] = {
            "resourceType": "Communication",
            "contained": contained,
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{header['id']}"}],
            "status": "completed",
            "category": [{"coding": [header["eventCoding"]]}],
            "sent": bundle["timestamp"],
            "sender": {"reference": refs[header["sender"]["reference"]]},
            "payload": [{"contentReference": {"reference": refs[header["focus"][0]["reference"]]}}],
        }
        if recipient:
            communication["recipient"] = [{"identifier": recipient}]
        entry = {
            "fullUrl": f"urn:uuid:{header['id']}",
            "resource": communication,
            "request": {"method": "POST", "url": "Communication"},
        }
        return _transaction(header["id"], bundle["timestamp"], [entry])


def _transaction(message_id: str, timestamp: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """An outbound dialect Bundle: a transaction whose id and identifier are the outbound message id,
    so the receiver deduplicates a redelivery."""
    return {
        "resourceType": "Bundle",
        "id": message_id,
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{message_id}"},
        "type": "transaction",
        "timestamp": timestamp,
        "entry": entries,
    }


def transaction_response(
    original: dict[str, Any], status: int, outcome: dict[str, Any] | None
) -> dict[str, Any]:
    """What a FHIR server answers a transaction: one response per entry; warnings on the first."""
    code = "201 Created" if status == 200 else f"{status}"
    entries: list[dict[str, Any]] = [{"response": {"status": code}} for _ in _entries(original)]
    if entries and outcome is not None:
        entries[0]["response"]["outcome"] = _unmapped_summarised(outcome)
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


def _unmapped_summarised(outcome: dict[str, Any]) -> dict[str, Any]:
    """The outcome with its unmapped-content warnings as one issue that names and locates each.
    A dialect carries whole resources as context (a transaction always holds the Encounter and the
    Patient), so most steps leave many elements unread; one warning per element buried the rest."""
    issues = outcome.get("issue") or []
    unmapped = [i for i in issues if _rule(i).endswith(":unmapped")]
    if len(unmapped) < 2:
        return outcome
    names = [str(i.get("diagnostics", "")).split(" is not ")[0] for i in unmapped]
    text = (
        f"{len(unmapped)} elements that the rules for this message do not read were ignored: "
        + ", ".join(dict.fromkeys(names))
        + "."
    )
    summary = {
        "severity": "warning",
        "code": "informational",
        "diagnostics": text,
        "details": {"coding": unmapped[0]["details"]["coding"], "text": text},
        "expression": [e for i in unmapped for e in i.get("expression") or []],
    }
    first = issues.index(unmapped[0])
    rest = [i for i in issues if i not in unmapped]
    return {**outcome, "issue": [*rest[:first], summary, *rest[first:]]}


def _rule(issue: dict[str, Any]) -> str:
    codings = (issue.get("details") or {}).get("coding") or [{}]
    return str(codings[0].get("code") or "")


def _warning(message: str, where: str, dialect: Dialect) -> Issue:
    return Issue("warning", "informational", message, where, f"dialect:{dialect.name}:unmapped")


def _entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    entries = bundle.get("entry")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _full_url(entry: dict[str, Any], i: int, bundle: dict[str, Any]) -> str:
    url = entry.get("fullUrl")
    return url if isinstance(url, str) else _urn(str(bundle.get("id")), str(i))


def _uuid(text: str) -> str:
    return as_uuid(text, _NS)


def _urn(*parts: str) -> str:
    return _NS.urn("|".join(parts))


def _rewrite(node: Any, refs: dict[str, str]) -> Any:
    """A copy with every Reference.reference found in `refs` replaced."""
    if isinstance(node, dict):
        out = {k: _rewrite(v, refs) for k, v in node.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in refs:
            out["reference"] = refs[ref]
        return out
    if isinstance(node, list):
        return [_rewrite(v, refs) for v in node]
    return node


def _first_str(expr: Compiled, resource: dict[str, Any] | None, env: dict[str, Any]) -> str | None:
    try:
        values = expr(resource, env) if resource is not None else []
    except Exception:  # a vendor's odd value is "not found", reported by the caller
        return None
    return str(values[0]) if values else None


def _true(expr: Compiled, resource: dict[str, Any], env: dict[str, Any]) -> bool:
    try:
        return expr(resource, env) == [True]
    except Exception:  # an expression that cannot be evaluated does not match
        return False


def case_state(case: DischargeCase) -> dict[str, Any]:
    """The previous case state the `events:` conditions read as %case (a DischargeCase)."""
    state: dict[str, Any] = {
        "state": case.state.value,
        "on_leave": case.on_leave,
        "discharged": case.discharged_at is not None,
        "died": case.died_at is not None,
        "plans": len(case.plans),
        "meetings": len(case.meetings),
    }
    if case.expected_discharge is not None:
        state["expected_discharge"] = case.expected_discharge.isoformat()
    return state
