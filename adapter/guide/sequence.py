"""The process as a picture: a sequence diagram (inline SVG) of the messages of an example case
between the three kinds of party, each arrow drawn from the message's sender to the receivers the
step table names for it. No script; text stays text (selectable, searchable)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from adapter.guide.sources import Example, Sources
from adapter.mapping.outbound import outbound_message_id
from adapter.process.events import Party
from adapter.routing.steps import Role, StepRule

LANES = (Party.SLUTENVARD, Party.OPPENVARD, Party.KOMMUN)
LANE_LABELS = {Party.SLUTENVARD: "Sjukhuset", Party.OPPENVARD: "Vårdcentralen", Party.KOMMUN: "Kommunen"}


@dataclass(frozen=True)
class Arrow:
    number: int
    step: str
    label: str
    sender: Party
    receivers: tuple[Party, ...]
    example: Example


def arrows(sources: Sources, case: str) -> list[Arrow]:
    """The messages of one example case, with the party kinds the step table sends them to."""
    found: list[Arrow] = []
    by_id: dict[str, Arrow] = {}
    summoned: set[Party] = set()
    named_by_focus: dict[str, set[Party]] = {}
    labels = sources.validator.terminology.codes("lus-event")
    for n, example in enumerate(sources.examples.get(case, []), 1):
        step, header = example.step, example.bundle["entry"][0]["resource"]
        sender = _kind(sources, _sender_hsa_id(example.bundle))
        if step is None or sender is None:
            continue
        # The earlier message this one names (acknowledges, voids, answers): by its own id, or by
        # the id of the copy the adapter delivered to a party (what a kvittens names).
        texts = _strings(example.bundle, skip=header["id"])
        referenced = next((a for mid, a in by_id.items() if mid in texts), None)
        named = {k for k in (_kind(sources, h) for h in _named_hsa_ids(example.bundle)) if k}
        # A meeting (or plan) keeps its parties: what named them before names them still.
        focus_ids = _focus_identifiers(example.bundle)
        for value in focus_ids:
            named |= named_by_focus.get(value, set())
        for value in focus_ids:
            named_by_focus[value] = named
        context = _Context(sender, named, summoned, referenced)
        receivers = _receivers(sources.steps.rule(step), context)
        arrow = Arrow(n, step, labels.get(step, step), sender, receivers, example)
        if step == "kallelse-sip":
            summoned = {sender, *receivers}
        by_id[header["id"]] = arrow
        for party in sources.routing.parties:
            by_id[outbound_message_id(header["id"], party.hsa_id)] = arrow
        found.append(arrow)
    return found


@dataclass(frozen=True)
class _Context:
    sender: Party
    named: set[Party]
    summoned: set[Party]
    referenced: Arrow | None


def _resolve(who: Role | Party, c: _Context) -> set[Party]:
    """The party kinds a role names in the example case, where every kind is a party."""
    if isinstance(who, Party):
        return {who}
    match who:
        case Role.UNIT:
            return {Party.SLUTENVARD}
        case Role.KOMMUN:
            return {Party.KOMMUN}
        case Role.VARDCENTRAL:
            return {Party.OPPENVARD}
        case Role.NAMED:
            return set(c.named)
        case Role.PARTIES:
            return set(LANES)
        case Role.OTHERS:
            return set(LANES) - {c.sender}
        case Role.SUMMONED:
            return set(c.summoned)
        case Role.REFERENCED_SENDER:
            return {c.referenced.sender} if c.referenced else set()
        case Role.REFERENCED_RECEIVERS:
            return set(c.referenced.receivers) if c.referenced else set()
    return set()


def _receivers(rule: StepRule, c: _Context) -> tuple[Party, ...]:
    chosen: set[Party] = set()
    for who in rule.receivers:
        parties = _resolve(who, c) - {c.sender}
        if rule.first and parties:
            chosen = parties
            break
        chosen |= parties
    return tuple(p for p in LANES if p in chosen)


def _kind(sources: Sources, hsa_id: str | None) -> Party | None:
    party = sources.routing.party(hsa_id) if hsa_id else None
    return party.kind if party else None


def _sender_hsa_id(bundle: dict[str, Any]) -> str | None:
    ref = (bundle["entry"][0]["resource"].get("sender") or {}).get("reference")
    for entry in bundle["entry"]:
        if entry.get("fullUrl") == ref:
            for ident in entry["resource"].get("identifier") or []:
                return str(ident.get("value"))
    return None


def _named_hsa_ids(bundle: dict[str, Any]) -> list[str]:
    """HSA-ids the message names as destination, recipient or participant."""
    header = bundle["entry"][0]["resource"]
    found = [
        ((d.get("receiver") or {}).get("identifier") or {}).get("value")
        for d in header.get("destination") or []
    ]
    for entry in bundle["entry"][1:]:
        resource = entry.get("resource") or {}
        for r in resource.get("recipient") or []:
            found.append((r.get("identifier") or {}).get("value"))
        for p in resource.get("participant") or []:
            found.append(((p.get("actor") or {}).get("identifier") or {}).get("value"))
    return [h for h in found if isinstance(h, str)]


def _focus_identifiers(bundle: dict[str, Any]) -> list[str]:
    ref = ((bundle["entry"][0]["resource"].get("focus") or [{}])[0]).get("reference")
    for entry in bundle["entry"]:
        if entry.get("fullUrl") == ref:
            return [str(i["value"]) for i in entry["resource"].get("identifier") or [] if "value" in i]
    return []


def _strings(node: Any, skip: str) -> set[str]:
    out: set[str] = set()
    if isinstance(node, str) and node != skip:
        out.add(node)
    elif isinstance(node, dict):
        for v in node.values():
            out |= _strings(v, skip)
    elif isinstance(node, list):
        for v in node:
            out |= _strings(v, skip)
    return out


# --- drawing ---

LANE_W, TOP, ROW_H, LEFT = 230, 56, 34, 16


def svg(arrows: list[Arrow], title: str, link: Any) -> str:
    """The diagram; `link(step)` gives the href of a step's page."""
    width = LEFT * 2 + LANE_W * len(LANES)
    height = TOP + ROW_H * len(arrows) + 24
    x = {p: LEFT + LANE_W * i + LANE_W // 2 for i, p in enumerate(LANES)}
    out = [
        f'<svg class="sequence" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8"'
        ' orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="head"/></marker></defs>',
    ]
    for party in LANES:
        out.append(
            f'<g class="lane" data-party="{party.value}">'
            f'<rect x="{x[party] - 70}" y="8" width="140" height="30" rx="4"/>'
            f'<text x="{x[party]}" y="28" text-anchor="middle">{LANE_LABELS[party]}</text>'
            f'<line x1="{x[party]}" y1="38" x2="{x[party]}" y2="{height - 8}"/></g>'
        )
    for row, a in enumerate(arrows):
        y = TOP + ROW_H * row + 20
        out.append(
            f'<a href="{escape(link(a.step))}" class="message" data-step="{a.step}"'
            f' data-from="{a.sender.value}"'
            f' data-to="{" ".join(p.value for p in a.receivers)}">'
        )
        for r in a.receivers:
            out.append(f'<line x1="{x[a.sender]}" y1="{y}" x2="{x[r]}" y2="{y}" marker-end="url(#head)"/>')
        out.append(f'<circle cx="{x[a.sender]}" cy="{y}" r="3.5"/>')
        # the label above the arrow, beside the sender, on the side the arrows go
        right = any(LANES.index(r) > LANES.index(a.sender) for r in a.receivers)
        lx, anchor = (x[a.sender] + 8, "start") if right else (x[a.sender] - 8, "end")
        out.append(
            f'<text x="{lx}" y="{y - 6}" text-anchor="{anchor}">{a.number:02d} {escape(a.label)}</text></a>'
        )
    out.append("</svg>")
    return "".join(out)
