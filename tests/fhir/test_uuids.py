"""adapter.fhir.ids gives the strings the uuid module gives: receivers deduplicate on stable ids,
so a faster spelling must never change one."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from adapter.fhir.ids import Namespace, random_uuid

NAMESPACE = "5f1c4f0e-8c4e-4f55-9b7a-6c1e2a0d4b11"


@given(st.text())
def test_name_based_uuid_is_uuid5(name: str) -> None:
    expected = str(uuid.uuid5(uuid.UUID(NAMESPACE), name))
    assert Namespace(NAMESPACE).uuid(name) == expected
    assert Namespace(NAMESPACE).urn(name) == f"urn:uuid:{expected}"


def test_random_uuid_is_a_version_4_uuid() -> None:
    values = {random_uuid() for _ in range(1000)}
    assert len(values) == 1000
    for value in values:
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
