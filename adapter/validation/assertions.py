"""Assertions on one element value, each reporting its own issue: fixed and pattern values,
required bindings, FHIRPath invariants, reference targets, and the Swedish identifier rules."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import orjson
from fhirpathpy.engine.nodes import ResourceNode

from adapter.fhir.fhirpath import choice_names
from adapter.validation.checkers import ObjectChecker, Where
from adapter.validation.identifiers import RULES, Implausible
from adapter.validation.invariants import UCUM, KeyGuard
from adapter.validation.snapshot import Constraint
from adapter.validation.terminology import Terminology

CHOICE_NAMES = choice_names()

if TYPE_CHECKING:
    from adapter.validation.context import Context


def _show(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # e.g. an integer beyond 64 bits
        return repr(value)


def contains(value: Any, pattern: Any) -> bool:
    """FHIR pattern[x]: every part of the pattern is in the value (arrays: each pattern item in some item).
    Loops, not all()/any() over generators: this runs on every coded element a profile patterns."""
    if type(pattern) is dict:
        if type(value) is not dict:
            return False
        for key, part in pattern.items():  # noqa: SIM110 (no generator frame: a hot path)
            if not contains(value.get(key), part):
                return False
        return True
    if type(pattern) is list:
        if type(value) is not list:
            return False
        for part in pattern:
            for item in value:
                if contains(item, part):
                    break
            else:
                return False
        return True
    return bool(value == pattern)


class Fixed:
    __slots__ = ("label", "value", "where")

    def __init__(self, label: str, value: Any, where: Where) -> None:
        self.label, self.value, self.where = label, value, where

    def check(self, value: Any, path: str, ctx: Context) -> None:
        if value != self.value:
            ctx.add(
                "error",
                "value",
                f"{self.label} must be exactly {_show(self.value)}, found {_show(value)} at {path}"
                f" ({self.where}, rule fixed-value).",
                path,
                "fixed-value",
                self.where.url,
            )


class Pattern:
    __slots__ = ("label", "pattern", "where")

    def __init__(self, label: str, pattern: Any, where: Where) -> None:
        self.label, self.pattern, self.where = label, pattern, where

    def check(self, value: Any, path: str, ctx: Context) -> None:
        if not contains(value, self.pattern):
            ctx.add(
                "error",
                "value",
                f"{self.label} must contain {_show(self.pattern)}, found {_show(value)} at {path}"
                f" ({self.where}, rule pattern-value).",
                path,
                "pattern-value",
                self.where.url,
            )


class Binding:
    """A required binding: the code (code, Coding or CodeableConcept) is in the value set."""

    __slots__ = ("any_system", "codes", "label", "value_set", "where")

    def __init__(self, label: str, value_set: str, codes: dict[str, list[str]], where: Where) -> None:
        self.label, self.value_set, self.where = label, value_set, where
        self.codes = {system: frozenset(values) for system, values in codes.items()}
        self.any_system = frozenset().union(*self.codes.values())  # a code element names no system

    def check(self, value: Any, path: str, ctx: Context) -> None:
        if isinstance(value, str):  # code
            if value in self.any_system:
                return
            found = repr(value)
        elif isinstance(value, dict) and "coding" in value:  # CodeableConcept
            codings = value["coding"]
            if isinstance(codings, list) and any(self._coding(c) for c in codings):
                return
            found = _show(codings)
        elif isinstance(value, dict) and "code" in value:  # Coding
            if self._coding(value):
                return
            found = _show(value)
        elif isinstance(value, dict) and "text" in value:
            found = "only text"
        else:
            return
        ctx.add(
            "error",
            "code-invalid",
            f"{self.label}: {found} at {path} is not in the required value set {self.value_set}"
            f" ({self.where}, rule required-binding).",
            path,
            "required-binding",
            self.where.url,
        )

    def _coding(self, coding: Any) -> bool:
        system = coding.get("system") if isinstance(coding, dict) else None
        code = coding.get("code") if isinstance(coding, dict) else None
        return isinstance(system, str) and isinstance(code, str) and code in self.codes.get(system, ())


class Invariant:
    """A FHIRPath constraint, compiled once (adapter.fhir.fhirpath: closures, or fhirpathpy); identifier
    systems are %variables, %resource and %rootResource the resources being checked. When the
    object has none of the keys the expression can see (invariants.focus_keys), its answer is the
    one on an empty object, computed once."""

    __slots__ = (
        "absent",
        "absent_choices",
        "constraint",
        "empty",
        "evaluate",
        "exact",
        "fast",
        "guard",
        "keys",
        "prefixes",
        "present",
        "scoped",
        "type_name",
        "where",
    )

    def __init__(
        self,
        constraint: Constraint,
        evaluate: Callable[..., Any],
        type_name: str,
        where: Where,
        keys: tuple[str, ...] | None = None,
        guard: Callable[[Any], bool] | None = None,
        sufficient: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] = ((), (), ()),
    ) -> None:
        self.constraint, self.evaluate, self.where = constraint, evaluate, where
        self.type_name = type_name  # what the element is, so that value resolves to valueCoding
        self.keys = keys
        names = keys or ()
        self.prefixes = tuple(k for k in names if k.lstrip("_") in CHOICE_NAMES)
        self.exact = frozenset(k for k in names if k.lstrip("_") not in CHOICE_NAMES)
        self.guard = guard
        # keys whose presence / absence makes it true; choice names absent when no key starts so
        self.present, self.absent, choices = sufficient
        self.absent_choices = tuple((name, "_" + name) for name in choices)
        self.empty: list[Any] | None = None
        self.fast = getattr(evaluate, "fast", False)  # takes plain dicts (adapter.fhir.fhirpath closures)
        # %resource, %rootResource, %ucum: a variables dict of its own per call only where used
        self.scoped = any(v in constraint.expression for v in ("%resource", "%rootResource", "%ucum"))

    def check(self, value: Any, path: str, ctx: Context) -> None:
        """One value outside an object's plan: an element's primitive (eld-3 on a max) or object."""
        if type(value) is dict:
            for step in self.for_shape(value, tuple(value), ctx):
                step(value, path, ctx)
        elif self.guard is None or self.guard(value):
            self._answer(value, path, ctx)

    def _answer(self, value: Any, path: str, ctx: Context) -> None:
        """Evaluate and report: no shortcut left to take."""
        c = self.constraint
        variables: dict[str, Any] = ctx.env
        if self.scoped or not self.fast:
            variables = {
                **ctx.env,
                "ucum": UCUM,
                "resource": ctx.resource or value,
                "rootResource": ctx.root or value,
            }
        try:
            if self.fast:
                result = self.evaluate(value, variables, self.type_name)
            else:
                focus = value
                if isinstance(value, dict) and "resourceType" not in value:
                    focus = ResourceNode.create_node(value, self.type_name)
                result = self.evaluate(focus, variables)
        except Exception as exc:  # fhirpathpy raises plain Exceptions on data it cannot evaluate
            ctx.add(
                "error",
                "invariant",
                f"{c.key} could not be evaluated at {path}: {exc} ({self.where}).",
                path,
                c.key,
                self.where.url,
            )
            return
        if result == [False]:
            ctx.add(
                "warning" if c.severity == "warning" else "error",
                "invariant",
                f"{c.human} ({self.where}, rule {c.key}: {c.expression}) — not met at {path}.",
                path,
                c.key,
                self.where.url,
            )

    def _sees(self, value: dict[str, Any]) -> bool:
        """Whether the object has a key the expression can see: names looked up, choice names
        (value: valueQuantity, valueString …) matched as prefixes of the object's keys."""
        if not self.exact.isdisjoint(value):
            return True
        prefixes = self.prefixes
        return bool(prefixes) and any(key.startswith(prefixes) for key in value)

    def met_by_shape(self, shape: tuple[str, ...]) -> bool:
        """Whether the keys alone make it true: a key of an `x.empty() or …` operand absent, or
        one of an `x.exists() or …` operand present (bdl-5 on an entry with its resource). A
        key present with null or [] is not there for FHIRPath, but is a json-type error of its own,
        so the object is rejected all the same."""
        for key in self.absent:
            if key not in shape and "_" + key not in shape:
                return True
        for key in self.present:
            if key in shape:
                return True
        return any(not any(k.startswith(stems) for k in shape) for stems in self.absent_choices)

    def for_shape(self, value: dict[str, Any], shape: tuple[str, ...], ctx: Context) -> list[Step]:
        """What an object of this shape needs of it: nothing when the keys settle it, else an
        answer (unless the guard finds it met)."""
        if self.keys is not None and not self._sees(value) and self._on_empty(value, ctx) != [False]:
            return []
        if self.met_by_shape(shape):
            return []
        answer, guard = self._answer, self.guard
        if guard is None:
            return [answer]
        if isinstance(guard, KeyGuard):
            key, test = guard.key, guard.test
            if key not in shape:
                return []

            def keyed(value: Any, path: str, ctx: Context) -> None:
                found = value[key]
                if type(found) is str and test(found) is not None:
                    answer(value, path, ctx)

            return [keyed]

        def guarded(value: Any, path: str, ctx: Context) -> None:
            if guard(value):
                answer(value, path, ctx)

        return [guarded]

    def _on_empty(self, value: dict[str, Any], ctx: Context) -> list[Any] | None:
        if self.empty is None:
            rtype = value.get("resourceType")
            empty: Any = {"resourceType": rtype} if rtype else ResourceNode.create_node({}, self.type_name)
            try:
                self.empty = list(
                    self.evaluate(empty, {**ctx.env, "ucum": UCUM, "resource": {}, "rootResource": {}})
                )
            except Exception:  # an answer that needs data: evaluate every time
                self.keys = None
                return [False]
        return self.empty


class Invariants:
    """The invariants of one object or element, in order. Which of them can see an object is worked
    out once per shape (its keys, in order: one producer writes them alike), so an object costs a
    look-up, not a test per invariant; those that see none of its keys answer as on an empty
    object, known once (Invariant._on_empty). An ObjectChecker keeps them in its own plan per
    shape (for_shape); an element's (Bundle.entry's bdl-5) are looked up here."""

    __slots__ = ("by_shape", "members")

    def __init__(self, members: list[Invariant]) -> None:
        self.members = members
        self.by_shape: dict[tuple[str, ...], tuple[Step, ...]] = {}

    def for_shape(self, value: dict[str, Any], shape: tuple[str, ...], ctx: Context) -> list[Step]:
        return [step for member in self.members for step in member.for_shape(value, shape, ctx)]

    def check(self, value: Any, path: str, ctx: Context) -> None:
        if type(value) is not dict:
            for member in self.members:
                member.check(value, path, ctx)
            return
        shape = tuple(value)
        run = self.by_shape.get(shape)
        if run is None:
            run = tuple(self.for_shape(value, shape, ctx))
            if len(self.by_shape) < _SHAPES_REMEMBERED and len(shape) <= 64:  # not hostile input's
                self.by_shape[shape] = run
        for step in run:
            step(value, path, ctx)


Step = Callable[[Any, str, "Context"], None]

# object shapes an Invariants remembers: far more than the ways one element is written
_SHAPES_REMEMBERED = 512


class ReferenceTarget:
    """A Reference resolved inside the Bundle: its target's type, and the profiles it must meet."""

    __slots__ = ("label", "profiles", "types", "where")

    def __init__(
        self, label: str, types: frozenset[str] | None, profiles: dict[str, list[ObjectChecker]], where: Where
    ) -> None:
        self.label = label
        self.types = types  # None: any resource
        self.profiles = profiles  # resource type → profiles, any one of which must be met
        self.where = where

    def check(self, value: Any, path: str, ctx: Context) -> None:
        reference = value.get("reference") if isinstance(value, dict) else None
        if not isinstance(reference, str) or ctx.index is None or reference.startswith("#"):
            return
        entry = ctx.index.resolve(reference)
        if entry is None:
            if ctx.message:
                ctx.add(
                    "error",
                    "not-found",
                    f"{path}: {reference!r} does not resolve to an entry in the Bundle; everything a"
                    " message refers to must travel inside it (rule reference-in-bundle).",
                    path,
                    "reference-in-bundle",
                    self.where.url,
                )
            return
        rtype = entry.resource.get("resourceType")
        if not isinstance(rtype, str):
            return  # the entry itself is reported as not a resource
        if self.types is not None and rtype not in self.types:
            ctx.add(
                "error",
                "structure",
                f"{self.label} at {path} refers to a {rtype}, expected {' or '.join(sorted(self.types))}"
                f" ({self.where}, rule reference-target).",
                path,
                "reference-target",
                self.where.url,
            )
            return
        candidates = self.profiles.get(rtype)
        if not candidates:
            return
        if len(candidates) == 1:
            ctx.check_resource(candidates[0], entry.resource, entry.path)
            return
        first: list[Any] = []
        for candidate in candidates:
            issues = ctx.trial(candidate, entry.resource, entry.path)
            if not any(i.blocking for i in issues):
                ctx.issues += issues
                return
            first = first or issues
        ctx.issues += first
        ctx.add(
            "error",
            "structure",
            f"{entry.path} meets none of the profiles allowed for {self.label}:"
            f" {', '.join(c.profile for c in candidates)} ({self.where}, rule reference-target).",
            path,
            "reference-target",
            self.where.url,
        )


class ExtensionValue:
    """ext-1: an extension has either a value or nested extensions, not both and not neither."""

    __slots__ = ("where",)

    def __init__(self, where: Where) -> None:
        self.where = where

    def for_shape(self, value: dict[str, Any], shape: tuple[str, ...], ctx: Context) -> list[Step]:
        """Met by the keys alone when there is a value and no extension key (nearly every one)."""
        valued = any(k.startswith(("value", "_value")) for k in shape)
        return [] if valued and "extension" not in shape else [self.check]

    def check(self, value: Any, path: str, ctx: Context) -> None:
        # a value may be present only as its extensions ("_valueString"): a value all the same
        has_value = any(k.startswith(("value", "_value")) for k in value)
        if has_value == bool(value.get("extension")):
            ctx.add(
                "error",
                "invariant",
                f"{path}: an extension must have either extensions or a value[x], not both"
                f" ({self.where}, rule ext-1).",
                path,
                "ext-1",
                self.where.url,
            )


class PeriodOrder:
    """per-1: a Period does not end before it starts (an admission after its discharge)."""

    __slots__ = ("where",)

    def __init__(self, where: Where) -> None:
        self.where = where

    def for_shape(self, value: dict[str, Any], shape: tuple[str, ...], ctx: Context) -> list[Step]:
        return [self.check] if "start" in shape and "end" in shape else []

    def check(self, value: Any, path: str, ctx: Context) -> None:
        start, end = _instant(value.get("start")), _instant(value.get("end"))
        if start is not None and end is not None and type(start) is type(end) and end < start:
            ctx.add(
                "error",
                "invariant",
                f"{path}: the period ends ({value['end']}) before it starts ({value['start']})"
                f" ({self.where}, rule per-1).",
                path,
                "per-1",
                self.where.url,
            )


def _instant(value: Any) -> datetime | date | None:
    """A full date (YYYY-MM-DD) or a date-time with its zone, else None (not comparable here)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class IdentifierRules:
    """The Swedish identifier rules, named by the NamingSystem of the identifier's system
    (personnummer, samordningsnummer, organisationsnummer, hsa-id, reservnummer)."""

    __slots__ = ("terms",)

    def __init__(self, terms: Terminology) -> None:
        self.terms = terms

    def normalise(self, identifier: Any, path: str, ctx: Context) -> None:
        """An alias system (urn:oid:1.2.752.129.2.1.3.1 for personnummer…) becomes the preferred one."""
        system = identifier.get("system") if isinstance(identifier, dict) else None
        naming = self.terms.lookup(system) if isinstance(system, str) else None
        if naming is None or system == naming.preferred:
            return
        identifier["system"] = naming.preferred
        ctx.add(
            "warning",
            "value",
            f"Identifier system {system} is an alias of NamingSystem {naming.id}; the adapter"
            f" normalises it to {naming.preferred} (rule identifier-system-alias).",
            f"{path}.system",
            "identifier-system-alias",
            None,
        )

    def check(self, identifier: Any, path: str, ctx: Context) -> None:
        system, value = identifier.get("system"), identifier.get("value")
        naming = self.terms.lookup(system) if isinstance(system, str) else None
        if naming is None or naming.rule is None or not isinstance(value, str):
            return
        problem = RULES[naming.rule](value)
        if problem:
            ctx.add(
                "warning" if isinstance(problem, Implausible) else "error",
                "value",
                f"{problem[0].upper()}{problem[1:]} (rule {naming.rule} of NamingSystem {naming.id},"
                f" {naming.preferred}).",
                f"{path}.value",
                naming.rule,
                None,
            )


class AttachmentSize:
    """An Attachment's stated size is the number of bytes of its data (R4 Attachment.size)."""

    __slots__ = ("where",)

    def __init__(self, where: Where) -> None:
        self.where = where

    def for_shape(self, value: dict[str, Any], shape: tuple[str, ...], ctx: Context) -> list[Step]:
        return [self.check] if "size" in shape and "data" in shape else []

    def check(self, value: Any, path: str, ctx: Context) -> None:
        size, data = value.get("size"), value.get("data")
        if type(size) is not int or type(data) is not str:
            return
        try:
            actual = len(base64.b64decode(data, validate=False))
        except (binascii.Error, ValueError):
            return  # base64Binary's own format check reports it
        if actual != size:
            ctx.add(
                "error",
                "value",
                f"{path}: the stated size {size} is not the size of the data, {actual} bytes"
                f" ({self.where}, rule attachment-size).",
                f"{path}.size",
                "attachment-size",
                self.where.url,
            )
