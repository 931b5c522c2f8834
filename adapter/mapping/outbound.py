"""Process event → outbound FHIR message Bundle for one recipient."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from adapter.fhir.ids import Namespace, random_uuid
from adapter.mapping.rules import MessageRule, RenderSpec
from adapter.mapping.template import Node, Template, TemplateError, check, entries_named, names_read
from adapter.process.case import DischargeCase
from adapter.process.events import EVENT_TYPES, Event, field_names
from adapter.validation.terminology import Terminology

# Stable ids: the same event sent to the same recipient always has the same MessageHeader.id,
# so a replay or a resend is deduplicated by the receiver.
_NS = Namespace("5f1c4f0e-8c4e-4f55-9b7a-6c1e2a0d4b11")


def outbound_message_id(source_message_id: str, recipient: str) -> str:
    return _NS.uuid(f"{source_message_id}|{recipient}")


def _urn(*parts: str) -> str:
    return _NS.urn("|".join(parts))


@dataclass(frozen=True)
class Addressing:
    """Who sends and who receives one outbound message."""

    recipient_hsa_id: str
    recipient_endpoint: str
    source_endpoint: str
    source_name: str


class Renderer:
    """Event → message Bundle, by the `render:` part of each mapping file of one dialect."""

    def __init__(
        self,
        rules: dict[str, MessageRule],
        terms: Terminology,
        extensions: dict[str, str],
    ) -> None:
        self.rules = rules  # by event kind
        self.variables: dict[str, Any] = {
            **{ns_id.replace("-", "_"): terms.system(ns_id) for ns_id in terms.naming_systems},
            **{"ext_" + ext_id.replace("-", "_"): url for ext_id, url in extensions.items()},
            **{"cs_" + cs_id.replace("-", "_"): terms.code_system_url(cs_id) for cs_id in terms.code_systems},
        }
        self.event_display = terms.codes("lus-event")
        for rule in rules.values():
            _check(rule)
        # Templates as rendered, resolved once: compiled templates are cached by object (template.py).
        self.compiled: dict[int, tuple[Any, Node]] = {}
        self._entries: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
        self._shareable: dict[tuple[str, str], bool] = {}

    def entry(self, rule: MessageRule, spec: RenderSpec, name: str) -> tuple[Any, dict[str, Any]]:
        """The `$key` template and the body of an entry template of a rule, resolved once (the
        header with the message's own header fields over the shared ones)."""
        found = self._entries.get((rule.event, name))
        if found is None:
            template = _resolve(rule, spec, name)
            if name == "header":
                template = {**template, **spec.header}
            body = {k: v for k, v in template.items() if k != "$key"}
            found = self._entries[(rule.event, name)] = (template.get("$key"), body)
        return found

    def shareable(self, rule: MessageRule, spec: RenderSpec, name: str) -> bool:
        """Whether an entry template reads nothing of the recipient, so that every recipient of
        one event gets the same entry."""
        found = self._shareable.get((rule.event, name))
        if found is None:
            key, body = self.entry(rule, spec, name)
            found = not (names_read(key) | names_read(body)) & _RECIPIENT
            self._shareable[(rule.event, name)] = found
        return found

    def render(
        self,
        event: Event,
        to: Addressing,
        case: DischargeCase | None = None,
        shared: SharedEntries | None = None,
    ) -> dict[str, Any]:
        """The message for one recipient. `case` is the case the event belongs to (after it):
        every message carries the case Encounter and Patient; an inskrivningsmeddelande opens it.
        `shared` carries entries from one recipient's message to the next one's."""
        rule = self.rules.get(event.kind)
        if rule is None or rule.render is None:
            raise NotImplementedError(f"no outbound rendering for {event.kind}")
        if case is None:
            case = DischargeCase.open(event)
        memo = shared.about(event, case) if shared is not None else None
        return _Message(rule, rule.render, self, event, case, to, memo).bundle()


# What is the recipient's own in a message: an entry template naming one is rendered per recipient.
_RECIPIENT = frozenset({"to", "header_id"})
Calls = list[tuple[str, str]]  # the refer/org calls rendering an entry made, in order


class SharedEntries:
    """The entries rendered for one recipient of an event, for the next recipient of the same event
    and case (the same objects: a recipient shown less of a protected patient gets other ones):
    only entries whose templates read nothing of the recipient, each with the entries it pulled in,
    so that the next message lists them in the order its own rendering would have."""

    def __init__(self) -> None:
        self._for: tuple[Event, DischargeCase] | None = None
        self._entries: dict[str, tuple[dict[str, Any], Calls]] = {}

    def about(self, event: Event, case: DischargeCase) -> dict[str, tuple[dict[str, Any], Calls]]:
        if self._for is None or self._for[0] is not event or self._for[1] is not case:
            self._for, self._entries = (event, case), {}
        return self._entries


# What a template may name besides the event's fields (see _Message.scope).
_SCOPE = {"kind", "case", "to", "display", "header_id", "hsa"}


def _check(rule: MessageRule) -> None:
    """Every template the rule renders names only fields its event has (raises TemplateError)."""
    if rule.render is None:
        return
    names = _SCOPE | {f.name for f in dataclasses.fields(EVENT_TYPES[rule.event])}
    check(rule.render.header, names, f"{rule.source_file}: render.header")
    pending, seen = ["header", "organization", rule.render.focus], set()
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            template = _resolve(rule, rule.render, name)
            check(template, names, f"{rule.source_file}: {name}")
            pending.extend(entries_named(template) - {"focus"})


def _resolve(rule: MessageRule, spec: RenderSpec, name: str) -> dict[str, Any]:
    """An entry template: the message's own, else the shared one; `$use` merges over a shared one."""
    template = spec.entries.get(name, rule.templates.get(name))
    if not isinstance(template, dict):
        raise TemplateError(f"{rule.source_file}: no entry template {name!r}")
    base = template.get("$use")
    if base is not None:
        shared = rule.templates.get(base)
        if not isinstance(shared, dict):
            raise TemplateError(f"{rule.source_file}: no shared template {base!r}")
        template = {**shared, **{k: v for k, v in template.items() if k != "$use"}}
    return template


class _Message:
    """One Bundle being rendered: the header, then each entry once, when first referenced (the
    focus first), then the Organizations."""

    def __init__(
        self,
        rule: MessageRule,
        spec: RenderSpec,
        renderer: Renderer,
        event: Event,
        case: DischargeCase,
        to: Addressing,
        shared: dict[str, tuple[dict[str, Any], Calls]] | None = None,
    ) -> None:
        self.rule, self.spec, self.event, self.to, self.renderer = rule, spec, event, to, renderer
        self.shared = shared
        self.calls: list[Calls] = []  # per entry being rendered, the refer/org calls it made
        self.scope: dict[str, Any] = {name: getattr(event, name) for name in field_names(type(event))}
        self.scope |= {
            "kind": event.kind,
            "case": case,
            "to": to,
            "display": renderer.event_display.get(event.kind, event.kind),
            "header_id": outbound_message_id(event.message_id, to.recipient_hsa_id),
        }
        self.template = Template(
            {**renderer.variables, **rule.constants}, rule.codes, self.refer, self.org, renderer.compiled
        )
        self.entries: dict[str, dict[str, Any]] = {}  # name → entry, in order of first reference
        self.orgs: dict[str, dict[str, Any]] = {}

    def bundle(self) -> dict[str, Any]:
        _, header = self.renderer.entry(self.rule, self.spec, "header")
        header_entry = {
            "fullUrl": _urn("header", self.event.message_id, self.to.recipient_hsa_id),
            "resource": self.template.render(header, self.scope),
        }
        return {
            "resourceType": "Bundle",
            "id": random_uuid(),
            "type": "message",
            "timestamp": self.event.occurred_at.isoformat(),
            "entry": [header_entry, *self.entries.values(), *(self.orgs[k] for k in sorted(self.orgs))],
        }

    def refer(self, name: str) -> str:
        if name == "focus":
            name = self.spec.focus
        if self.calls:
            self.calls[-1].append(("entry", name))
        if name not in self.entries and not self._reuse(name, self.entries, name):
            key, body = self.renderer.entry(self.rule, self.spec, name)
            seed = str(self.template.render(key, self.scope)) if key else self.event.case_id
            entry = self.entries[name] = {"fullUrl": _urn(name, seed), "resource": {}}
            entry["resource"] = self._rendered(name, name, entry, body, self.scope)
        return str(self.entries[name]["fullUrl"])

    def org(self, hsa_id: str) -> str:
        if self.calls:
            self.calls[-1].append(("org", hsa_id))
        memo = f"organization|{hsa_id}"
        if hsa_id not in self.orgs and not self._reuse(memo, self.orgs, hsa_id):
            _, template = self.renderer.entry(self.rule, self.spec, "organization")
            entry = self.orgs[hsa_id] = {"fullUrl": _urn("organization", hsa_id), "resource": {}}
            scope = {**self.scope, "hsa": hsa_id}
            entry["resource"] = self._rendered("organization", memo, entry, template, scope)
        return str(self.orgs[hsa_id]["fullUrl"])

    def _rendered(
        self, name: str, memo: str, entry: dict[str, Any], template: Any, scope: dict[str, Any]
    ) -> Any:
        """An entry's resource, rendered; kept for the next recipient when it may be shared."""
        self.calls.append([])
        try:
            resource = self.template.render(template, scope)
        finally:
            calls = self.calls.pop()
        if self.shared is not None and self.renderer.shareable(self.rule, self.spec, name):
            self.shared[memo] = (entry, calls)
        return resource

    def _reuse(self, memo: str, into: dict[str, dict[str, Any]], name: str) -> bool:
        """The entry as rendered for an earlier recipient, and the entries its rendering pulled in."""
        held = self.shared.get(memo) if self.shared is not None else None
        if held is None:
            return False
        into[name] = held[0]
        self.calls.append([])  # the pulled-in entries are not calls of whatever is being rendered
        try:
            for kind, pulled in held[1]:
                if kind == "entry":
                    self.refer(pulled)
                else:
                    self.org(pulled)
        finally:
            self.calls.pop()
        return True
