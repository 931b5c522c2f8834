"""Hostile input: each kind of bad body gets a 4xx OperationOutcome, stores nothing but an audit
record, and leaves the adapter healthy and accepting the next good message."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.app import create_app
from adapter.fhir.bundle import BundleIndex
from adapter.fhir.issues import MAX_ISSUES, MAX_TEXT
from adapter.runtime import Runtime
from adapter.security.limits import JsonLimits
from adapter.validation.cycles import reference_cycle
from tests.support.examples import fresh_copy, load_example
from tests.support.pipeline import counts

FHIR = {"Content-Type": "application/fhir+json"}
EXAMPLE = load_example("inskrivningsmeddelande.json")


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    runtime.settings.max_body_bytes = 1_000_000
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as c:
        yield c


def nested(depth: int) -> bytes:
    return b'{"resourceType":"Bundle","type":"message","x":' + b"[" * depth + b"]" * depth + b"}"


def edited(change: Callable[[dict[str, Any]], None]) -> bytes:
    bundle = fresh_copy(EXAMPLE)
    change(bundle)
    return orjson.dumps(bundle)


def resource(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind
    )
    return found


def ten_thousand_entries(bundle: dict[str, Any]) -> None:
    bundle["entry"] += [
        {"fullUrl": f"urn:uuid:{i:08d}-0000-4000-8000-000000000000", "resource": {"resourceType": "Basic"}}
        for i in range(10_000)
    ]


def enormous_name(bundle: dict[str, Any]) -> None:
    resource(bundle, "Patient")["name"][0]["family"] = "Tolvansson" * 20_000


def looping_references(bundle: dict[str, Any]) -> None:
    encounter_url = next(
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"
    )
    resource(bundle, "Encounter")["partOf"] = {"reference": encounter_url}
    patient_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    resource(bundle, "Patient")["link"] = [{"other": {"reference": patient_url}, "type": "seealso"}]


def long_case_id(bundle: dict[str, Any]) -> None:
    resource(bundle, "Encounter")["identifier"][0]["value"] = "X" * 300


def header(bundle: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = bundle["entry"][0]["resource"]
    return found


def unknown_members(count: int) -> Callable[[dict[str, Any]], None]:
    def add(bundle: dict[str, Any]) -> None:
        header(bundle).update({f"x{i}": i for i in range(count)})

    return add


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Bundle xmlns="http://hl7.org/fhir"><id value="&lol3;"/></Bundle>"""

HOSTILE: dict[str, tuple[bytes, dict[str, str], int, str]] = {
    "body over the size limit": (b'{"a":"' + b"x" * 1_100_000 + b'"}', FHIR, 413, "too-costly"),
    "nesting deeper than the limit": (nested(100), FHIR, 400, "too-costly"),
    "nesting deeper than the parser goes": (nested(5000), FHIR, 400, "structure"),
    "XML with entity expansion": (
        BILLION_LAUGHS,
        {"Content-Type": "application/fhir+xml"},
        415,
        "not-supported",
    ),
    "text/plain": (orjson.dumps(EXAMPLE), {"Content-Type": "text/plain"}, 415, "not-supported"),
    "no content type": (orjson.dumps(EXAMPLE), {}, 415, "not-supported"),
    "multipart": (
        b"--x\r\n\r\n--x--",
        {"Content-Type": "multipart/form-data; boundary=x"},
        415,
        "not-supported",
    ),
    "invalid UTF-8": (b'{"resourceType":"Bundle","id":"\xff\xfe"}', FHIR, 400, "structure"),
    "not an object": (b"[1, 2, 3]", FHIR, 400, "structure"),
    "JSON null": (b"null", FHIR, 400, "structure"),
    "empty body": (b"", FHIR, 400, "structure"),
    "an enormous string": (edited(enormous_name), FHIR, 400, "too-costly"),
    "10 000 entries": (edited(ten_thousand_entries), FHIR, 400, "too-costly"),
    "references that loop": (edited(looping_references), FHIR, 422, "invariant"),
    "a case id wider than the store's column": (edited(long_case_id), FHIR, 422, "too-long"),
    # PostgreSQL text cannot hold NUL; no FHIR string holds a control character.
    "a NUL in the message id": (edited(lambda b: header(b).update(id="a\x00b")), FHIR, 400, "invalid"),
    "a NUL in the case id": (
        edited(lambda b: resource(b, "Encounter")["identifier"][0].update(value="A\x00B")),
        FHIR,
        400,
        "invalid",
    ),
    "a control character in the case id": (
        edited(lambda b: resource(b, "Encounter")["identifier"][0].update(value="A\x01B")),
        FHIR,
        400,
        "invalid",
    ),
    "a NUL in a name": (
        edited(lambda b: resource(b, "Patient")["name"][0].update(family="Tolvan\x00sson")),
        FHIR,
        400,
        "invalid",
    ),
    "a NUL in a member name": (edited(lambda b: header(b).update({"x\x00": 1})), FHIR, 400, "invalid"),
    "60 000 members in one object": (edited(unknown_members(60_000)), FHIR, 400, "too-costly"),
    "a member name of 10 000 characters": (
        edited(lambda b: header(b).update({"x" * 10_000: 1})),
        FHIR,
        400,
        "too-costly",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_body_is_refused_and_the_adapter_stays_healthy(
    client: TestClient, runtime: Runtime, name: str
) -> None:
    body, headers, status, code = HOSTILE[name]
    before = counts(runtime)
    reply = client.post("/fhir/$process-message", content=body, headers=headers)
    assert reply.status_code == status, reply.text[:500]
    outcome = reply.json()
    assert outcome["resourceType"] == "OperationOutcome"
    if code:
        assert code in [i["code"] for i in outcome["issue"]], outcome
    after = counts(runtime)
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }
    assert client.get("/health").status_code == 200
    good = client.post("/fhir/$process-message", content=orjson.dumps(fresh_copy(EXAMPLE)), headers=FHIR)
    assert good.status_code == 200, good.text


def test_validate_endpoint_has_the_same_limits(client: TestClient) -> None:
    deep = client.post("/fhir/Bundle/$validate", content=nested(100), headers=FHIR)
    assert deep.status_code == 400 and deep.json()["issue"][0]["code"] == "too-costly"
    assert (
        client.post("/fhir/Bundle/$validate", content=edited(ten_thousand_entries), headers=FHIR).status_code
        == 400
    )


def test_limits_name_where_they_were_exceeded(runtime: Runtime) -> None:
    bundle = copy.deepcopy(EXAMPLE)
    enormous_name(bundle)
    issue = runtime.pipeline.limits.check(bundle)
    assert issue is not None and issue.expression is not None
    assert issue.expression.endswith(".resource.name[0].family")


@pytest.mark.parametrize("through_contained", [False, True], ids=["direct", "through-contained"])
def test_a_reference_cycle_is_refused_at_the_reference_that_closes_it(through_contained: bool) -> None:
    # Entry B refers to entry A, and A refers back to B: itself, or (through_contained) by a
    # resource it contains; whoever follows A's references comes back to A.
    bundle = fresh_copy(EXAMPLE)
    first = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Encounter")
    second_url = "urn:uuid:0b7c2d2e-1f7a-4c55-9a51-2f0d7d1c0001"
    bundle["entry"].append(
        {
            "fullUrl": second_url,
            "resource": {
                "resourceType": "Encounter",
                "partOf": {"reference": bundle["entry"][first]["fullUrl"]},
            },
        }
    )
    back = {"reference": second_url}
    if through_contained:
        bundle["entry"][first]["resource"]["contained"] = [
            {"resourceType": "Encounter", "id": "in", "partOf": back}
        ]
    else:
        bundle["entry"][first]["resource"]["partOf"] = back
    issue = reference_cycle(BundleIndex(bundle))
    assert issue is not None and issue.rule == "reference-cycle"
    assert issue.expression == f"Bundle.entry[{len(bundle['entry']) - 1}].resource.partOf"
    assert reference_cycle(BundleIndex(fresh_copy(EXAMPLE))) is None


SMALL = JsonLimits(max_depth=4, max_items=3, max_string=5)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=7),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=30,
)


@given(json_values)
@settings(max_examples=300, deadline=None)
def test_the_quick_limit_pass_agrees_with_the_locating_walk(data: Any) -> None:
    # check() answers from the path-free pass and walks again only to say where: both must agree.
    assert (SMALL.check(data) is None) == (SMALL._locate(data, "Bundle") is None)


@pytest.mark.parametrize(
    "path",
    [
        "/cases/A%00B",
        "/cases/A%01B/timeline",
        "/dashboard/arenden/A%00B",
        "/admin/deadletters/A%00B",
        "/admin/messages/A%1FB",
        "/admin/cases/A%00B/messages",
        "/fhir/Encounter?identifier=A%00B",
        "/fhir/Patient?identifier=urn%3Aoid%3A1.2.752.129.2.1.3.1%7C19121212%7F1212",
    ],
)
def test_a_control_character_in_a_path_or_query_is_a_400(client: TestClient, path: str) -> None:
    reply = client.get(path)
    assert reply.status_code == 400, reply.text[:300]
    assert reply.json()["issue"][0]["code"] == "invalid"


def test_an_answer_lists_at_most_max_issues_and_echoes_little(client: TestClient) -> None:
    # 180 unknown members in each of three resources (within the members cap): 540 issues found.
    def unknowns(bundle: dict[str, Any]) -> None:
        for entry in bundle["entry"][:3]:
            entry["resource"].update({f"unknown{i}": i for i in range(180)})

    for url in ("/fhir/$process-message", "/fhir/Bundle/$validate"):
        reply = client.post(url, content=edited(unknowns), headers=FHIR)
        issues = reply.json()["issue"]
        assert len(issues) == MAX_ISSUES + 1, url
        assert issues[-1]["code"] == "too-costly" and "more issues" in issues[-1]["diagnostics"]
    # A long value is echoed only in part (message id: at most 64 characters of [A-Za-z0-9-.]).
    long_id = edited(lambda b: header(b).update(id="m" * 90_000))
    reply = client.post("/fhir/$process-message", content=long_id, headers=FHIR)
    assert reply.status_code == 422
    assert len(reply.content) < 5_000
    assert all(len(i["diagnostics"]) <= MAX_TEXT for i in reply.json()["issue"])


def test_a_party_id_over_the_column_width_is_refused_audited_and_not_echoed(
    client: TestClient, runtime: Runtime
) -> None:
    before = counts(runtime)["audit"]
    for length in (101, 70_000):
        reply = client.get("/cases/X", headers={"X-LUS-Party": "P" * length})
        assert reply.status_code == 403, reply.text[:300]
        assert len(reply.content) < 1_000
    assert counts(runtime)["audit"] == before + 2


def test_a_body_of_members_is_refused_before_it_is_parsed() -> None:
    limits = JsonLimits(max_members=1000)
    compact = orjson.dumps({"resourceType": "Bundle", **{f"x{i}": 0 for i in range(1001)}})
    issue = limits.prescreen(compact)
    assert issue is not None and issue.code == "too-costly" and "before parsing" in issue.message
    # Colons in strings are not members: such a body is parsed and checked as any other.
    colons = orjson.dumps({"resourceType": "Bundle", "text": ":" * 5000})
    assert limits.prescreen(colons) is None
    assert limits.check(orjson.loads(colons), raw=colons) is None
    # Members spaced from their colons escape the count before parsing, not the one after.
    spaced = b'{"resourceType": "Bundle", ' + b", ".join(b'"x%d" : 0' % i for i in range(1001)) + b"}"
    assert limits.prescreen(spaced) is None
    issue = limits.check(orjson.loads(spaced), raw=spaced)
    assert issue is not None and issue.code == "too-costly"
    assert (
        JsonLimits(max_members=2000).check(orjson.loads(spaced), raw=spaced) is not None
    )  # 1001 in one object
    assert JsonLimits(max_keys=5000, max_members=2000).check(orjson.loads(spaced), raw=spaced) is None


@pytest.mark.parametrize(
    "body",
    [
        {"message_id": "a\x00b"},
        {"recipient": "K\x01"},
        {"message_id": "m" * 300},
        {"since": "2026-01-01" * 10},
    ],
)
def test_a_hostile_replay_request_is_a_4xx(client: TestClient, body: dict[str, str]) -> None:
    reply = client.post("/admin/deadletters/replay", content=orjson.dumps(body), headers=FHIR)
    assert 400 <= reply.status_code < 500, reply.text[:300]
