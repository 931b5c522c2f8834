"""The guide as files: every page rendered from the sources, as {relative path: bytes}. The CLI
writes them to a folder; the app serves them from memory."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape

from adapter.guide.answers import Answer, ok_answer, rejections
from adapter.guide.fhir_package import package_tgz
from adapter.guide.profile_table import ProfileTable, chain, profile_table
from adapter.guide.sequence import arrows, svg
from adapter.guide.sources import CASES, Example, Sources
from adapter.mapping.rules import MessageRule
from adapter.process.events import Party
from adapter.routing.steps import Role, StepRule

HERE = Path(__file__).parent
PACKAGE_FILE = "package.tgz"

# How the step table's roles read in Swedish (adapter/routing/steps.py names them).
ROLE_LABELS: Mapping[Role | Party, str] = {
    Role.UNIT: "sjukhusets enhet (slutenvården)",
    Role.KOMMUN: "patientens kommun (folkbokföringsadressen)",
    Role.VARDCENTRAL: "patientens vårdcentral",
    Role.NAMED: "de parter meddelandet namnger",
    Role.PARTIES: "ärendets parter",
    Role.OTHERS: "ärendets övriga parter",
    Role.SUMMONED: "de kallade till det senaste SIP-mötet",
    Role.MEETING: "mötets parter (de som bokat det och de som kallats)",
    Role.REFERENCED_SENDER: "avsändaren av meddelandet det gäller",
    Role.REFERENCED_RECEIVERS: "mottagarna av meddelandet det gäller",
    Party.SLUTENVARD: "varje slutenvårdspart i ärendet",
    Party.OPPENVARD: "varje öppenvårdspart i ärendet",
    Party.KOMMUN: "varje kommun i ärendet",
}


def step_page(step: str) -> str:
    return f"steg-{step}.html"


def profile_page(url: str) -> str:
    return f"profil-{url.rstrip('/').rsplit('/', 1)[-1]}.html"


def pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


@dataclass
class StepView:
    code: str
    label: str
    definition: str
    rule: StepRule
    deadline: list[str]
    example: Example | None
    header_profiles: list[str]
    focus_profiles: list[str]
    reached: list[str]
    tables: list[ProfileTable]
    ok: dict[str, Any] | None
    answers: list[Answer]
    mapping: MessageRule | None
    dialects: list[dict[str, Any]]

    def who(self, roles: tuple[Role | Party, ...]) -> list[str]:
        return [ROLE_LABELS.get(r, str(r)) for r in roles]


class Site:
    def __init__(self, sources: Sources) -> None:
        self.s = sources
        self.package = sources.validator.package
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(), trim_blocks=True
        )
        self.env.globals.update(
            step_page=step_page,
            profile_page=profile_page,
            name_of=self.name_of,
            known=self.known,
            pretty=pretty,
        )
        self.labels = sources.validator.terminology.codes("lus-event")
        self.definitions = {
            c["code"]: c.get("definition", "")
            for c in sources.validator.terminology.code_systems["lus-event"].get("concept", [])
        }
        # Steps in the order the example cases take them; any other after.
        ordered = [e.step for case in CASES for e in sources.examples.get(case, []) if e.step]
        self.order = list(dict.fromkeys([*ordered, *sources.steps.steps]))

    def name_of(self, url: str) -> str:
        resource = self.package.by_url.get(url)
        return str(resource.get("title") or resource.get("name") or url) if resource else url

    def known(self, url: str) -> bool:
        return url in self.package.by_url

    def render(self, template: str, **values: Any) -> bytes:
        return self.env.get_template(template).render(**values).encode()

    # --- the pages ---

    def build(self) -> dict[str, bytes]:
        steps = [self.step(code) for code in self.order]
        files = {
            "guide.css": (HERE / "static" / "guide.css").read_bytes(),
            "index.html": self.render("index.html", steps=steps, title="LUS-meddelanden"),
            "processen.html": self.render("process.html", diagrams=self.diagrams(), title="Processen"),
            "identifierare.html": self.render(
                "identifiers.html", systems=self.naming_systems(), title="Identifierare"
            ),
            "kodverk.html": self.render(
                "codes.html",
                code_systems=self.package.resources("CodeSystem"),
                value_sets=self.package.resources("ValueSet"),
                title="Kodverk",
            ),
            "dialekter.html": self.render("dialects.html", dialects=self.dialect_specs(), title="Dialekter"),
            PACKAGE_FILE: package_tgz(self.s.profiles_dir),
        }
        for view in steps:
            files[step_page(view.code)] = self.render("step.html", step=view, title=view.label)
        for sd in self.package.resources("StructureDefinition"):
            url = sd["url"]
            files[profile_page(url)] = self.render(
                "profile.html",
                sd=sd,
                table=profile_table(self.s.validator, url),
                chain=chain(self.s.validator, url),
                used_by=[v for v in steps if url in v.header_profiles + v.focus_profiles + v.reached],
                title=self.name_of(url),
            )
        return files

    def step(self, code: str) -> StepView:
        example = self.s.example_of(code)
        headers = self.header_profiles(code)
        focus = [
            t
            for h in headers
            for row in profile_table(self.s.validator, h).rows
            if row.path == "MessageHeader.focus"
            for typ in row.types
            for t in typ.targets
        ]
        tables = [profile_table(self.s.validator, url) for url in dict.fromkeys(headers + focus)]
        reached = self.reachable(tables)
        # The resources the message carries get their table here; extensions a link each.
        tables += [
            profile_table(self.s.validator, url)
            for url in reached
            if self.package.by_url[url].get("type") != "Extension"
        ]
        reached = [url for url in reached if self.package.by_url[url].get("type") == "Extension"]
        answers = rejections(self.s.validator, example.bundle, focus[0] if focus else None) if example else []
        endpoint = f"{self.s.routing.self_.base_url}/$process-message"
        return StepView(
            code=code,
            label=self.labels.get(code, code),
            definition=self.definitions.get(code, ""),
            rule=self.s.steps.rule(code),
            deadline=self.deadline(code),
            example=example,
            header_profiles=headers,
            focus_profiles=focus,
            reached=reached,
            tables=tables,
            ok=ok_answer(example.bundle, endpoint) if example else None,
            answers=answers,
            mapping=self.s.mapper.rules.get(("canonical", code)),
            dialects=self.dialects_for(code, example),
        )

    def header_profiles(self, code: str) -> list[str]:
        """The MessageHeader profiles that fix this event (as the validator picks them)."""
        found = []
        for url, sd in self.s.validator.compiler.definitions.items():
            if sd.get("type") != "MessageHeader":
                continue
            event = (self.s.validator.compiler.tree(url).children or {}).get("event[x]")
            coding = event and (event.fixed or event.pattern)
            if isinstance(coding, dict) and coding.get("code") == code:
                found.append(url)
        return found

    def reachable(self, tables: list[ProfileTable]) -> list[str]:
        """Every profile of the package the message reaches from its header and focus."""
        seen = {t.url for t in tables}
        todo = [u for t in tables for u in t.reached()]
        found: list[str] = []
        while todo:
            url = todo.pop(0)
            if url in seen or not self.known(url):
                continue
            seen.add(url)
            found.append(url)
            todo.extend(profile_table(self.s.validator, url).reached())
        return found

    def deadline(self, code: str) -> list[str]:
        """What lus-rules.yaml sets for this step, in words."""
        d, a = self.s.rules.deadlines, self.s.rules.agreement
        lines = []
        if code == "inskrivningsmeddelande":
            lines.append(f"Senast {_hours(d.inskrivning_within.total_seconds())} efter inskrivningen.")
        if code == "kallelse-sip":
            text = (
                f"Senast {d.kallelse_within_days} kalenderdagar efter utskrivningsklar, när patienten"
                " behöver insatser från både region och kommun."
            )
            if d.kallelse_cutoff:
                cutoff = f"{d.kallelse_cutoff:%H:%M}"
                text += f" En kallelse skickad kl. {cutoff} eller senare räknas från nästa vardag."
            lines.append(text)
        if code == "utskrivningsmeddelande":
            lines.append("Senast samma dag som patienten skrivs ut.")
        if code == "kvittens":
            within = _hours(d.kvittens_within.total_seconds())
            lines.append(f"Kommunen kvitterar varje meddelande den tar emot inom {within}.")
        if code == "utskrivningsklar":
            days = ", ".join(f"{kind.value} {n}" for kind, n in a.fristdagar.items())
            lines.append(
                f"Startar kommunens betalningsansvar (överenskommelse {a.name}, {a.model.value}): fristdagar"
                f" {days or '–'} ({a.day_count.value})."
            )
        return lines

    def dialects_for(self, code: str, example: Example | None) -> list[dict[str, Any]]:
        """How each dialect carries this step, with its own example when it has one."""
        out = []
        for name, dialect in sorted(self.s.dialects.dialects.items()):
            spec = dialect.spec
            own = next(
                (e for e in self.s.examples.get(name, []) if re.sub(r"^\d+-", "", e.name) == f"{code}.json"),
                None,
            )
            if own is not None:
                shown, origin = own.bundle, f"examples/bundles/{own.path}"
            elif example is not None:
                shown, origin = self.s.dialects.from_canonical(name, example.bundle), None
            else:
                shown, origin = None, None
            out.append(
                {
                    "name": name,
                    "form": spec.form,
                    "profile": spec.profile,
                    "inferred": [r for r in spec.events if r.event == code],
                    "event": spec.event,
                    "focus": spec.focus,
                    "example": pretty(shown) if shown is not None else None,
                    "origin": origin,
                }
            )
        return out

    def dialect_specs(self) -> list[dict[str, Any]]:
        return [
            {"name": name, "spec": d.spec, "examples": self.s.examples.get(name, [])}
            for name, d in sorted(self.s.dialects.dialects.items())
        ]

    def diagrams(self) -> list[dict[str, Any]]:
        titles = {
            "canonical": "Ett helt ärende",
            "canonical-avliden": "Permission, återtag och dödsfall",
            "canonical-signoff": "Gemensamt godkännande, SIP och dokumenterad överenskommelse",
        }
        out = []
        for case in CASES:
            drawn = arrows(self.s, case)
            if drawn:
                title = titles.get(case, case)
                out.append(
                    {"case": case, "title": title, "svg": svg(drawn, title, step_page), "arrows": drawn}
                )
        return out

    def naming_systems(self) -> list[dict[str, Any]]:
        terms = self.s.validator.terminology
        out = []
        for resource in self.package.resources("NamingSystem"):
            ns = terms.naming_systems.get(resource["id"])
            if ns is not None:
                out.append({"ns": ns, "resource": resource, "aliases": sorted(ns.aliases)})
        return out


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:g} timmar" if hours != 1 else "1 timme"


def build_site(sources: Sources) -> dict[str, bytes]:
    return Site(sources).build()


def write_site(files: Mapping[str, bytes], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (out / name).write_bytes(content)
