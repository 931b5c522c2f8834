"""The process as a picture: a sequence diagram (inline SVG) of the messages of an example case
between the three kinds of party, each arrow drawn from the message's sender to the parties the
router sends it to by the step table. No script; text stays text (selectable, searchable)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from html import escape
from typing import Any

from adapter.fhir.bundle import BundleIndex
from adapter.guide.sources import Example, Sources
from adapter.process.case import DischargeCase
from adapter.process.events import Party
from adapter.routing.identity import resolve_reference
from adapter.routing.router import choose_recipients

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


def arrows(sources: Sources, case_folder: str) -> list[Arrow]:
    """The messages of one example case, each sent to whom the adapter's own router sends it: the
    case is replayed event by event (as the pipeline does, without a store) and the step table's
    receivers are resolved in it."""
    found: list[Arrow] = []
    labels = sources.validator.terminology.codes("lus-event")
    routing, steps = sources.routing, sources.steps
    parties = [p.hsa_id for p in routing.parties]
    case: DischargeCase | None = None
    for n, example in enumerate(sources.examples.get(case_folder, []), 1):
        index = BundleIndex(example.bundle)
        event, _ = sources.mapper.to_event("canonical", index)
        assert index.header is not None  # to_event needs one
        event = replace(event, destinations=_destinations(index.header.resource))
        event = resolve_reference(event, case, parties) or event
        case = DischargeCase.open(event) if case is None else case.with_event(event)
        sender = routing.party(event.sender)
        if sender is None:
            continue
        chosen = {p.kind for p in choose_recipients(event, case, routing, steps)}
        receivers = tuple(k for k in LANES if k in chosen)
        found.append(
            Arrow(n, event.kind, labels.get(event.kind, event.kind), sender.kind, receivers, example)
        )
    return found


def _destinations(header: dict[str, Any]) -> tuple[str, ...]:
    """HSA-ids of MessageHeader.destination.receiver: the parties a sender names."""
    found = []
    for d in header.get("destination") or []:
        value = ((d.get("receiver") or {}).get("identifier") or {}).get("value")
        if isinstance(value, str):
            found.append(value)
    return tuple(found)


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
