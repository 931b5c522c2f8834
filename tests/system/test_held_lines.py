"""Held lines, with the adapter as a real process (`lus-adapter serve`, its delivery worker inside)
and real HTTP receivers on loopback, on SQLite and PostgreSQL: the kommun's system refuses the
first message of two cases (a fatal 422, so a dead letter at once). The later messages of those
cases to the kommun wait; the other case and the vårdcentral get everything. /metrics and
`deadletters held` show the held lines; `deadletters replay` releases one in order, and an
operator's skip over the admin API releases the other without the refused message, audited."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapter.mapping.outbound import outbound_message_id
from tests.support.examples import write_routing
from tests.support.parties import KOMMUN, SELF, VARDCENTRAL
from tests.support.processes import AdapterProcess, message_id, stay_messages, wait_until, wait_until_settled
from tests.support.receivers import Receiver, running

pytestmark = pytest.mark.slow


def test_a_dead_letter_holds_its_line_until_replayed_or_skipped(tmp_path: Path, database_url: str) -> None:
    stays = {
        case: stay_messages(case, count) for case, count in (("HELD-A", 3), ("HELD-B", 2), ("HELD-C", 3))
    }

    def out(case: str, party: str) -> list[str]:
        return [outbound_message_id(message_id(b), party) for b in stays[case]]

    replayed, skipped = out("HELD-A", KOMMUN)[0], out("HELD-C", KOMMUN)[0]
    kommun, vardcentral = Receiver(refuse={replayed, skipped}), Receiver()
    with running(kommun), running(vardcentral):
        config = write_routing(
            tmp_path / "config",
            {SELF: "http://127.0.0.1:9/ehr", KOMMUN: kommun.url, VARDCENTRAL: vardcentral.url},
        )
        env = {
            "LUS_DATABASE_URL": database_url,
            "LUS_CONFIG_DIR": str(config),
            "LUS_WORKER_POLL_SECONDS": "0.05",
        }
        adapter = AdapterProcess(env=env, log=tmp_path / "adapter.log").start()
        try:
            for stay in stays.values():
                for bundle in stay:
                    assert adapter.post(bundle).status_code == 200

            wait_until(lambda: len(vardcentral.applied) == 8, 30, "the vårdcentral to get everything")
            wait_until(lambda: len(kommun.applied) == 2, 30, "the kommun to get case B")
            wait_until_settled(database_url)  # all but the held lines delivered
            assert kommun.applied_ids == out("HELD-B", KOMMUN)

            assert _held(adapter) == {"lines": 2.0, "messages": 4.0}
            held = _cli(env, "deadletters", "held", "--format", "json", expect=1)
            assert {(h["case_id"], h["message_id"], h["waiting"]) for h in orjson.loads(held.stdout)} == {
                ("HELD-A", replayed, 2),
                ("HELD-C", skipped, 2),
            }

            kommun.refuse.clear()  # the kommun's system takes case A's first message now
            assert _cli(env, "deadletters", "replay", replayed).stdout.split() == [replayed]
            wait_until(lambda: len(kommun.applied) == 5, 30, "case A's line to be released")

            reply = httpx.post(
                f"{adapter.base}/admin/deadletters/{skipped}/skip",
                json={"reason": "sent by hand on paper"},
                timeout=10,
            )
            assert reply.status_code == 200 and reply.json()["status"] == "skipped"
            wait_until(lambda: len(kommun.applied) == 7, 30, "case C's line to be released")
            again = httpx.post(f"{adapter.base}/admin/deadletters/{skipped}/skip", json={"reason": "x"})
            assert again.status_code == 409
            wait_until_settled(database_url)  # a wrong delivery of the skipped message would be done
            assert _held(adapter) == {"lines": 0.0, "messages": 0.0}
        finally:
            adapter.stop()

    assert kommun.applied_ids == [*out("HELD-B", KOMMUN), *out("HELD-A", KOMMUN), *out("HELD-C", KOMMUN)[1:]]
    for case in stays:  # the vårdcentral's lines were never held; each came in order
        assert [m for m in vardcentral.applied_ids if m in out(case, VARDCENTRAL)] == out(case, VARDCENTRAL)
    assert kommun.duplicates == vardcentral.duplicates == 0
    audit = orjson.loads(_cli(env, "audit", "--format", "json").stdout)
    [skip] = [a for a in audit if a["action"] == "skip"]
    assert (skip["message_id"], skip["case_id"], skip["detail"]["reason"]) == (
        skipped,
        "HELD-C",
        "sent by hand on paper",
    )


def _held(adapter: AdapterProcess) -> dict[str, float]:
    text = httpx.get(f"{adapter.base}/metrics", timeout=10).text
    found = {"lines": 0.0, "messages": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("recipient") == KOMMUN and sample.name == "lus_delivery_held_lines":
                found["lines"] = sample.value
            if sample.labels.get("recipient") == KOMMUN and sample.name == "lus_delivery_held_messages":
                found["messages"] = sample.value
    return found


def _cli(env: dict[str, str], *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "adapter", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == expect, result.stderr
    return result
