"""Redelivery policy, per destination: what is worth trying again, how long to wait, when to
give up. Defaults come from the settings; a party in the routing table may override any of them
(`delivery:` in parties.yaml).

Transient (try again): connect and read timeouts and other transport errors, HTTP 408, 425, 429
and 5xx, and a response message with code `transient-error`. Fatal (a dead letter at once): any
other 4xx, or a response message with code `fatal-error`. Waits grow exponentially with jitter up
to a cap; a Retry-After longer than the backoff wins (up to a sanity cap). A message still
failing after `max_attempts` attempts or `max_age` seconds becomes a dead letter with its last
error.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import orjson

from adapter.routing.table import DeliveryOverrides, RoutingTable

TRANSIENT_STATUS = frozenset({408, 425, 429, *range(500, 600)})


class TransientFailure(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def slots_taken(response: bytes) -> str | None:
    """The warnings of an `ok` answer that a slot the message books was taken at the receiver
    (rule slot-taken, docs/tidbok.md), in words; None when there are none. Any answer is read
    without fail: a party's own system may answer whatever it likes."""
    try:
        bundle = orjson.loads(response)
    except orjson.JSONDecodeError:
        return None
    said = [
        str(issue.get("diagnostics"))
        for resource in _resources(bundle)
        if resource.get("resourceType") == "OperationOutcome"
        for issue in _dicts(resource.get("issue"))
        if any(c.get("code") == "slot-taken" for c in _dicts(_dict(issue.get("details")).get("coding")))
    ]
    return "; ".join(said) or None


def _resources(bundle: Any) -> list[dict[str, Any]]:
    return [_dict(entry.get("resource")) for entry in _dicts(_dict(bundle).get("entry"))]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def answer_text(body: bytes, limit: int = 300) -> str:
    """A receiver's refusal in words: an OperationOutcome's issues as `location: text; …`, else
    the start of the body (an error page, plain text)."""
    try:
        outcome = orjson.loads(body)
    except orjson.JSONDecodeError:
        outcome = None
    if isinstance(outcome, dict) and isinstance(outcome.get("issue"), list):
        parts = []
        for issue in outcome["issue"]:
            if not isinstance(issue, dict):
                continue
            text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue.get("code")
            where = ", ".join(str(e) for e in issue.get("expression") or [])
            parts.append(f"{where}: {text}" if where else str(text))
        said = "; ".join(parts)
    else:
        said = " ".join(body.decode(errors="replace").split())
    return said if len(said) <= limit else said[: limit - 1] + "…"


class FatalFailure(Exception):
    """`reason` is safe to log; `detail` (the receiver's answer, which may quote the patient) is
    kept with the message in the store, never logged."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class RetryPolicy:
    timeout: float = 10.0  # seconds per HTTP attempt
    attempts_per_claim: int = 4  # attempts in one go before the message goes back to the queue
    in_claim_wait: float = 5.0  # longest wait slept in the worker; a longer one requeues instead
    backoff_initial: float = 0.5
    backoff_max: float = 60.0
    retry_after_max: float = 3600.0  # a Retry-After beyond this is taken as this
    max_attempts: int = 100
    max_age: float = 48 * 3600.0  # seconds since acceptance (or the last replay)
    breaker_failures: int = 5  # consecutive transient failures that open the circuit
    breaker_reset: float = 30.0  # seconds the circuit stays open before one trial call

    def backoff(self, attempts: int, rng: Callable[[], float] = random.random) -> float:
        """Wait after the `attempts`-th failure: exponential, capped, with "equal jitter" (at least
        half the ceiling, so a crowd of retries spreads out without ever retrying at once)."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** min(max(attempts - 1, 0), 30))
        return ceiling / 2 + rng() * ceiling / 2

    def delay(self, attempts: int, retry_after: float | None) -> float:
        wait = self.backoff(attempts)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.retry_after_max))
        return wait

    def gives_up(self, attempts: int, trying_since: float, now: float) -> str | None:
        """Why a still-failing message should now become a dead letter, or None."""
        if attempts >= self.max_attempts:
            return f"gave up after {attempts} attempts"
        if now - trying_since >= self.max_age:
            return f"gave up after {now - trying_since:.0f} s of trying"
        return None

    @property
    def longest_claim(self) -> float:
        """The most time one claim of one message can take: a lease must outlast it."""
        return self.attempts_per_claim * self.timeout + (self.attempts_per_claim - 1) * self.in_claim_wait

    def overridden(self, overrides: DeliveryOverrides | None) -> RetryPolicy:
        if overrides is None:
            return self
        given: dict[str, Any] = {
            f.name: getattr(overrides, f.name)
            for f in fields(self)
            if getattr(overrides, f.name, None) is not None
        }
        return replace(self, **given)


@dataclass(frozen=True)
class Policies:
    """The policy for each recipient: the default, or the party's own."""

    default: RetryPolicy
    per_recipient: Mapping[str, RetryPolicy] = field(default_factory=dict)

    @classmethod
    def from_table(cls, default: RetryPolicy, table: RoutingTable) -> Policies:
        return cls(default, {p.hsa_id: default.overridden(p.delivery) for p in table.parties if p.delivery})

    def for_recipient(self, hsa_id: str) -> RetryPolicy:
        return self.per_recipient.get(hsa_id, self.default)

    @property
    def longest_claim(self) -> float:
        return max(p.longest_claim for p in (self.default, *self.per_recipient.values()))
