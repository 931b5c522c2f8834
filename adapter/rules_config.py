"""Regional LUS rules from YAML (examples/config/lus-rules.yaml) into the process's rule objects.

The file is checked as a whole at start-up: a typo in an agreement is an error with its location,
never a silently different invoice.
"""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapter.configfile import load_model
from adapter.process.events import CareKind
from adapter.process.rules import (
    Agreement,
    DayAmounts,
    DayCount,
    DeadlineRules,
    PaymentModel,
    ProcessRules,
)

RULES_FILE = "lus-rules.yaml"


class RulesConfigError(ValueError):
    """The rules file cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Deadlines(_Strict):
    inskrivningsmeddelande_hours: float = Field(gt=0)
    kallelse_sip_days: int = Field(ge=0)
    kallelse_cutoff: time | None = None
    kvittens_hours: float = Field(gt=0)


class _Agreement(_Strict):
    model: PaymentModel
    fristdagar: dict[CareKind, int] = Field(default_factory=dict)
    day_count: DayCount = DayCount.CALENDAR
    notice_cutoff: time | None = None
    requires_kallelse: bool = True
    day_amounts: dict[int, int] | None = None  # overrides the region's table
    average_threshold_days: int | None = Field(default=None, ge=0)
    average_window_months: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _complete(self) -> _Agreement:
        if self.model is PaymentModel.PER_CASE:
            missing = [k.value for k in CareKind if k not in self.fristdagar]
            if missing:
                raise ValueError(f"fristdagar must name every care kind; missing: {', '.join(missing)}")
            if any(days < 0 for days in self.fristdagar.values()):
                raise ValueError("fristdagar cannot be negative")
        if self.model is PaymentModel.MONTHLY_AVERAGE and self.average_threshold_days is None:
            raise ValueError("a monthly-average agreement needs average_threshold_days")
        return self


class _RulesFile(_Strict):
    deadlines: _Deadlines
    day_amounts: dict[int, int]
    agreement: str
    agreements: dict[str, _Agreement]
    utskrivningsmeddelande_waits_for_approval: bool = False

    @model_validator(mode="after")
    def _known_agreement(self) -> _RulesFile:
        if self.agreement not in self.agreements:
            raise ValueError(
                f"agreement {self.agreement!r} is not among agreements: {', '.join(self.agreements)}"
            )
        if any(amount <= 0 for amount in self.day_amounts.values()):
            raise ValueError("day amounts must be positive whole kronor")
        return self


def load_rules(path: Path, agreement: str | None = None) -> ProcessRules:
    """The rules in `path` (a file, or a config folder holding lus-rules.yaml).

    `agreement` picks another of the configured agreements than the file's own choice.
    """
    file = path / RULES_FILE if path.is_dir() else path
    try:
        parsed = load_model(file, _RulesFile, RulesConfigError)
    except OSError as exc:
        raise RulesConfigError(f"{file}: cannot read: {exc}") from exc
    agreements = {name: _agreement(name, a, parsed.day_amounts) for name, a in parsed.agreements.items()}
    chosen = agreement or parsed.agreement
    if chosen not in agreements:
        raise RulesConfigError(f"{file}: no agreement {chosen!r}; configured: {', '.join(agreements)}")
    d = parsed.deadlines
    return ProcessRules(
        deadlines=DeadlineRules(
            inskrivning_within=timedelta(hours=d.inskrivningsmeddelande_hours),
            kallelse_within_days=d.kallelse_sip_days,
            kallelse_cutoff=d.kallelse_cutoff,
            kvittens_within=timedelta(hours=d.kvittens_hours),
        ),
        agreement=agreements[chosen],
        agreements=agreements,
        discharge_waits_for_approval=parsed.utskrivningsmeddelande_waits_for_approval,
    )


def _agreement(name: str, a: _Agreement, region_amounts: dict[int, int]) -> Agreement:
    return Agreement(
        name=name,
        model=a.model,
        fristdagar=dict(a.fristdagar),
        day_amounts=DayAmounts(dict(a.day_amounts or region_amounts)),
        day_count=a.day_count,
        notice_cutoff=a.notice_cutoff,
        requires_kallelse=a.requires_kallelse,
        average_threshold_days=a.average_threshold_days,
        average_window_months=a.average_window_months,
    )
