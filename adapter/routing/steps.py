"""The step table: who may send each LUS step and who receives it, read from `lus-steps.yaml` in
the config folder. Data a region edits; the router (receivers) and the access rules (senders) both
read it, so the two can never disagree."""

from __future__ import annotations

import enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapter.configfile import load_model
from adapter.process.events import EVENT_TYPES, Party

STEPS_FILE = "lus-steps.yaml"


class StepsConfigError(ValueError):
    """The step table cannot be used; raised at start-up with the file and the field."""


class Role(enum.StrEnum):
    """Who a step names, relative to the case or to the earlier message it names."""

    UNIT = "unit"
    KOMMUN = "kommun"
    VARDCENTRAL = "vardcentral"
    NAMED = "named"
    PARTIES = "parties"
    OTHERS = "others"
    SUMMONED = "summoned"
    MEETING = "meeting"
    REFERENCED_SENDER = "referenced-sender"
    REFERENCED_RECEIVERS = "referenced-receivers"


Who = Role | Party  # a role, or a party kind: every party of the case of that kind


class StepRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    senders: tuple[Who, ...] = Field(min_length=1)
    receivers: tuple[Who, ...] = Field(min_length=1)
    first: bool = Field(False, description="Receivers: the first role that names anyone, not the union")


class StepTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: dict[str, StepRule]

    @model_validator(mode="after")
    def _every_step(self) -> StepTable:
        unknown = sorted(set(self.steps) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown steps: {', '.join(unknown)}; known: {', '.join(sorted(EVENT_TYPES))}")
        missing = sorted(set(EVENT_TYPES) - set(self.steps))
        if missing:
            raise ValueError(f"every step needs a line; missing: {', '.join(missing)}")
        return self

    def rule(self, kind: str) -> StepRule:
        return self.steps[kind]


def load_step_table(config_dir: Path) -> StepTable:
    path = config_dir / STEPS_FILE
    return load_model(path, StepTable, StepsConfigError, missing="No step table")
