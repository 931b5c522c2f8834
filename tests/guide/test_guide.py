"""The implementation guide: built by `lus-adapter guide build` into a folder, every internal
link resolves, every step has a page whose example validates, the answers shown are errors the
validator really gives, and package.tgz is a FHIR package holding every profile."""

from __future__ import annotations

import re
import shutil
import tarfile
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adapter.app import create_app
from adapter.cli import app as cli
from adapter.config import PROJECT_ROOT, Settings
from adapter.guide.site import ROLE_LABELS, Site, step_page
from adapter.guide.sources import CASES, Sources
from adapter.process.events import EVENT_TYPES, Party
from adapter.routing.steps import Role
from adapter.validation.package import load_package
from adapter.validation.validator import Validator


class Page(HTMLParser):
    """The links, ids and example blocks of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.examples: dict[str, str] = {}
        self._example: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(str(a[key]))
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "pre" and a.get("data-example"):
            self._example = str(a["data-example"])
            self.examples[self._example] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._example = None

    def handle_data(self, data: str) -> None:
        if self._example is not None:
            self.examples[self._example] += data


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("guide")
    result = CliRunner().invoke(cli, ["guide", "build", str(out)])
    assert result.exit_code == 0, result.output
    return out


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_every_internal_link_and_anchor_resolves(built: Path) -> None:
    pages = {p.name: parse(p) for p in built.glob("*.html")}
    assert len(pages) > 20
    broken = []
    for name, page in pages.items():
        for link in page.links:
            if re.match(r"^[a-z]+:", link):
                broken.append(f"{name}: external link {link} (the guide links nothing outside itself)")
                continue
            target, _, anchor = link.partition("#")
            target = target or name
            if not (built / target).is_file():
                broken.append(f"{name}: {link}")
            elif anchor and anchor not in pages[target].ids:
                broken.append(f"{name}: {link} (no id {anchor!r})")
    assert not broken, "\n".join(broken)


def test_every_step_has_a_page_whose_example_validates(built: Path) -> None:
    validator = Validator.from_path(Settings().profiles_dir)
    for step in EVENT_TYPES:
        page = parse(built / step_page(step))
        [(path, text)] = page.examples.items()
        bundle = orjson.loads(text)
        assert bundle == orjson.loads((PROJECT_ROOT / "examples" / "bundles" / path).read_bytes())
        assert bundle["entry"][0]["resource"]["eventCoding"]["code"] == step
        errors = [i for i in validator.validate_message(bundle) if i.blocking]
        assert not errors, (step, errors)
    index = (built / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{step_page(step)}"' in index for step in EVENT_TYPES)


def test_each_step_page_says_who_sends_receives_and_the_deadline(built: Path) -> None:
    page = (built / step_page("inskrivningsmeddelande")).read_text(encoding="utf-8")
    for heading in ("Avsändare", "Mottagare", "Tidsgräns", "Message profile", "Vad adaptern svarar"):
        assert heading in page
    assert "Senast 24 timmar efter inskrivningen." in page  # lus-rules.yaml
    assert "sjukhusets enhet (slutenvården)" in page  # lus-steps.yaml: senders [unit]
    assert "lus-pat-1" in page and "identifier.where(" in page  # an invariant, in words and FHIRPath
    kallelse = (built / step_page("kallelse-sip")).read_text(encoding="utf-8")
    assert "Senast 3 kalenderdagar efter utskrivningsklar" in kallelse


def test_the_answers_shown_are_what_the_validator_gives() -> None:
    site = Site(Sources.load(Settings()))
    for step in EVENT_TYPES:
        view = site.step(step)
        assert view.ok is not None and view.ok["entry"][0]["resource"]["response"]["code"] == "ok"
        titles = {a.title for a in view.answers}
        assert "Personnummer med fel kontrollsiffra" in titles, step
        assert any(t.startswith("Ett obligatoriskt element saknas") for t in titles), step
        for answer in view.answers:
            assert any(i.blocking for i in answer.issues), (step, answer.title)
        pnr = next(a for a in view.answers if a.title == "Personnummer med fel kontrollsiffra")
        assert "personnummer" in {i.rule for i in pnr.issues if i.blocking}


def test_the_process_picture_draws_every_message_of_the_example_cases(built: Path) -> None:
    page = (built / "processen.html").read_text(encoding="utf-8")
    arrows = re.findall(
        r'<a href="steg-([a-z-]+)\.html" class="message" data-step="\1" data-from="(\w+)" data-to="([\w ]*)"',
        page,
    )
    sent = [
        f.split("-", 1)[1].removesuffix(".json")
        for case in CASES
        for f in sorted(p.name for p in (PROJECT_ROOT / "examples" / "bundles" / case).glob("*.json"))
    ]
    assert len(arrows) == len(sent)
    assert all(to for _, _, to in arrows), "every message reaches someone"
    assert ("inskrivningsmeddelande", "SV", "OV K") in arrows
    assert ("fast-vardkontakt-utsedd", "OV", "SV") in arrows
    assert ("kvittens", "K", "SV") in arrows  # to the sender of what it acknowledges
    assert ("godkannande", "K", "SV OV") in arrows  # to the unit and the other approver


def test_the_package_opens_and_holds_package_json_and_every_profile(built: Path) -> None:
    archive = built / "package.tgz"
    with tarfile.open(archive, "r:gz") as tar:
        names = set(tar.getnames())
        manifest = orjson.loads(tar.extractfile("package/package.json").read())  # type: ignore[union-attr]
        index = orjson.loads(tar.extractfile("package/.index.json").read())  # type: ignore[union-attr]
    profiles = PROJECT_ROOT / "profiles"
    assert manifest == orjson.loads((profiles / "package.json").read_bytes())
    expected = {f"package/{p.name}" for p in profiles.glob("*.json")}
    assert expected <= names
    assert {f["filename"] for f in index["files"]} == {n.removeprefix("package/") for n in expected} - {
        "package.json"
    }
    loaded, original = load_package(archive), load_package(profiles)
    assert set(loaded.by_url) == set(original.by_url)
    # The adapter's own validator loads it as it loads the folder.
    assert Validator.from_path(archive).profiles() == Validator.from_path(profiles).profiles()


def test_guide_without_lus_rules_is_a_503_naming_the_file(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "examples" / "config", config)
    (config / "lus-rules.yaml").unlink()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'lus.db'}", config_dir=config, worker=False)
    with TestClient(create_app(settings)) as client:
        reply = client.get("/guide/index.html")
    assert reply.status_code == 503
    assert "lus-rules.yaml: cannot read" in reply.json()["issue"][0]["diagnostics"]


def test_every_role_of_the_step_table_reads_in_swedish() -> None:
    assert set(Role) | set(Party) <= set(ROLE_LABELS)
