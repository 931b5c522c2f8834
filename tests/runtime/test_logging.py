"""The masking processor: no personnummer or name reaches a log line; HSA-ids stay readable."""

from __future__ import annotations

import pytest

from adapter.logging import mask_personal_data


@pytest.mark.parametrize(
    "text", ["pnr 191212121212", "19121212-1212", "121212-1212 ok", "id=196109732393", "x:201212121212."]
)
def test_personnummer_in_any_value_are_masked(text: str) -> None:
    out = mask_personal_data(None, "info", {"event": text, "nested": {"a": [text]}})
    assert "1212121212" not in str(out) and "0973239" not in str(out)


def test_personal_keys_are_masked_whatever_they_hold() -> None:
    out = mask_personal_data(None, "info", {"event": "x", "family": "Tolvansson", "given": ["Tolvan"]})
    assert out["family"] == out["given"] == "[masked]"


def test_hsa_ids_and_message_ids_stay_readable() -> None:
    event = {
        "event": "sent to SE2321000131-P000000123456 and TSTNMT2321000156-K1480",
        "case_id": "SU-2026-000123",
    }
    assert mask_personal_data(None, "info", dict(event)) == event
