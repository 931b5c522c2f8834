"""The shipped step table says what shared/domain/LUS.md says, and a broken table is refused."""

from pathlib import Path

import pytest

from adapter.process.events import EVENT_TYPES
from adapter.routing.steps import Role, StepsConfigError, load_step_table

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "config"


def test_every_step_has_senders_and_receivers() -> None:
    table = load_step_table(CONFIG)
    assert set(table.steps) == set(EVENT_TYPES)
    assert table.rule("utskrivningsklar").senders == (Role.UNIT,)
    assert table.rule("kallelse-sip").receivers == (Role.KOMMUN, Role.UNIT)
    assert table.rule("makulering").senders == (Role.REFERENCED_SENDER,)
    assert table.rule("kvittens").receivers == (Role.REFERENCED_SENDER,)


def test_a_missing_step_is_refused(tmp_path: Path) -> None:
    (tmp_path / "lus-steps.yaml").write_text("steps:\n  kvittens: {senders: [unit], receivers: [kommun]}\n")
    with pytest.raises(StepsConfigError, match="missing: "):
        load_step_table(tmp_path)


def test_an_unknown_role_is_refused(tmp_path: Path) -> None:
    text = (
        (CONFIG / "lus-steps.yaml")
        .read_text()
        .replace(
            "senders: [unit], receivers: [vardcentral, kommun]}", "senders: [boss], receivers: [kommun]}", 1
        )
    )
    (tmp_path / "lus-steps.yaml").write_text(text)
    with pytest.raises(StepsConfigError, match="boss"):
        load_step_table(tmp_path)
