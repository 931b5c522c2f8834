"""/guide as a vendor meets it: `lus-adapter serve` started as a process serves the guide it
builds from its configured folders, and what a step page says the adapter answers to a bad
personnummer is what the same adapter answers when that message is posted."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import httpx
import pytest

from adapter.config import Settings
from adapter.guide.answers import rejections
from adapter.validation.validator import Validator
from tests.support.examples import load_example
from tests.support.processes import AdapterProcess

pytestmark = pytest.mark.slow


def test_serve_serves_the_guide_and_answers_as_it_says(tmp_path: Path) -> None:
    adapter = AdapterProcess(
        env={"LUS_DATABASE_URL": f"sqlite:///{tmp_path / 'adapter.db'}", "LUS_WORKER": "false"},
        log=tmp_path / "adapter.log",
    ).start()
    try:
        root = httpx.get(f"{adapter.base}/guide", follow_redirects=True, timeout=60)
        assert root.status_code == 200 and root.headers["content-type"] == "text/html; charset=utf-8"
        assert (
            "<title>LUS-meddelanden" in root.text and 'href="steg-inskrivningsmeddelande.html"' in root.text
        )
        css = httpx.get(f"{adapter.base}/guide/guide.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        package = httpx.get(f"{adapter.base}/guide/package.tgz")
        assert package.status_code == 200 and package.content[:2] == b"\x1f\x8b"  # gzip
        assert httpx.get(f"{adapter.base}/guide/nothing.html").status_code == 404

        page = httpx.get(f"{adapter.base}/guide/steg-inskrivningsmeddelande.html").text
        shown = _answer(page, "Personnummer med fel kontrollsiffra")
        assert ("personnummer", "Bundle.entry[2].resource.identifier[0].value") in shown

        # The same mutation, posted: the adapter answers 422 with the issues the page shows.
        bundle = load_example("inskrivningsmeddelande.json")
        [answer] = [a for a in rejections(_validator(), bundle, None) if a.title.startswith("Personnummer")]
        reply = adapter.post(answer.message)
        assert reply.status_code == 422
        got = {(i["details"]["coding"][0]["code"], i["expression"][0]) for i in reply.json()["issue"]}
        assert got == {(i.rule, i.expression) for i in answer.issues} == shown
    finally:
        adapter.stop()


def _answer(page: str, title: str) -> set[tuple[str, str]]:
    """(rule, expression) of each issue the page lists under an answer's title."""
    article = page.split(f"<h4>{title}</h4>", 1)[1].split("</article>", 1)[0]
    items = re.findall(r"</span> <code>([^<]+)</code> vid <code>([^<]+)</code>", article)
    return {(unescape(rule), unescape(where)) for rule, where in items}


def _validator() -> Validator:
    return Validator.from_path(Settings().profiles_dir)
