"""The compiled form of a profile: a tree of small checkers working on plain JSON dicts.

An ObjectChecker checks one JSON object (a resource, a datatype value, a backbone element): it
knows its fields by JSON name, each an ElementChecker (cardinality, array or not, slicing,
per-item assertions) paired with the checker of the field's type. Every checker reports its own
issues with the FHIRPath expression of the element it looked at (Firely's validator is the model).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from adapter.validation.context import Context


class TypeChecker(Protocol):
    primitive: bool

    def check(self, value: Any, path: str, ctx: Context) -> None: ...


class Assertion(Protocol):
    def check(self, value: Any, path: str, ctx: Context) -> None: ...


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return "an object"


class Where:
    """Which profile a checker belongs to, for the sentence of an issue."""

    __slots__ = ("name", "url")

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name

    def __str__(self) -> str:
        return f"profile {self.name} ({self.url})"


_JSON_KINDS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "decimal": (int, float),
}
_JSON_NAMES = {str: "string", bool: "boolean", int: "number", float: "number"}
_DATES = frozenset({"date", "dateTime", "instant"})
_EXPECTED = {
    "date": "YYYY, YYYY-MM or YYYY-MM-DD",
    "dateTime": "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a zone (Z or +01:00)",
    "instant": "YYYY-MM-DDThh:mm:ss with a zone (Z or +01:00)",
    "time": "hh:mm:ss",
    "id": "1–64 of A–Z, a–z, 0–9, - and .",
    "code": "no leading, trailing or double whitespace",
    "uri": "no whitespace",
    "url": "no whitespace",
    "canonical": "no whitespace",
}
_INT_MIN = {"integer": -(2**31), "unsignedInt": 0, "positiveInt": 1}
MAX_STRING = 1024 * 1024  # R4 2.1.0.1: a string's size SHALL NOT exceed 1 MB


class PrimitiveChecker:
    """JSON kind, the R4 regex of the type, real calendar dates and integer ranges."""

    primitive = True
    __slots__ = ("is_date", "json", "low", "name", "plain", "regex", "where")

    def __init__(self, name: str, json: str, regex: str | None, where: Where) -> None:
        self.name = name
        self.json = _JSON_KINDS[json]
        # FHIR's regexes follow XML Schema/Java: \s and \d are ASCII (U+00A0 is no whitespace)
        self.regex = re.compile(regex, re.ASCII) if regex and json == "string" else None
        self.where = where
        self.is_date = name in _DATES  # known per type: no lookups per value
        self.low = _INT_MIN.get(name)
        self.plain = not self.is_date and self.low is None  # valid when its JSON kind and regex are

    def check(self, value: Any, path: str, ctx: Context) -> None:
        if type(value) not in self.json:
            ctx.add(
                "error",
                "structure",
                f"{path} must be a JSON {_JSON_NAMES[self.json[0]]} for FHIR type {self.name},"
                f" found {json_kind(value)} ({self.where}, rule json-type).",
                path,
                "json-type",
                self.where.url,
            )
            return
        problem = None
        if type(value) is str and len(value) > MAX_STRING and self.name != "base64Binary":
            problem = (
                f"is longer than 1 MB ({len(value)} characters): FHIR strings SHALL NOT exceed {MAX_STRING}"
            )
        elif self.regex is not None and not self.regex.fullmatch(value):
            expected = _EXPECTED.get(self.name, f"the R4 format of {self.name}")
            problem = f"is not a valid {self.name}; expected {expected}"
        elif self.is_date and len(value) >= 10 and not _real_date(value):
            problem = "is not a real calendar date"
        elif self.low is not None and not self.low <= value < 2**31:
            problem = f"is out of range for {self.name}"
        if problem:
            shown = value if self.name not in ("string", "markdown") else "the value"
            ctx.add(
                "error",
                "value",
                f"{shown!r} {problem} (rule primitive-format of {self.where}).",
                path,
                "primitive-format",
                self.where.url,
            )


def _real_date(value: str) -> bool:
    try:
        date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return False
    return True


class ObjectChecker:
    """One JSON object: a resource, a complex datatype or a backbone element."""

    primitive = False
    __slots__ = (
        "assertions",
        "fields",
        "is_resource",
        "label",
        "plans",
        "profile",
        "required",
        "type_name",
        "where",
    )

    def __init__(self, type_name: str, label: str, where: Where, *, is_resource: bool = False) -> None:
        self.type_name = type_name
        self.label = label  # definitional path, e.g. Encounter.statusHistory
        self.where = where
        self.profile = where.url
        self.is_resource = is_resource
        # JSON name → (element, its type's checker, that checker again if it is a plain primitive:
        # most keys of a resource hold one value with nothing more to check than its JSON kind
        # and format, checked in the walk without a path unless it fails).
        self.fields: dict[str, tuple[ElementChecker, TypeChecker, PrimitiveChecker | None]] = {}
        self.required: list[ElementChecker] = []
        self.assertions: list[Assertion] = []
        self.plans: dict[tuple[str, ...], Plan] = {}  # by the object's keys, in order

    def add_field(self, key: str, element: ElementChecker, checker: TypeChecker) -> None:
        """The element under its JSON name (`value` and `valueString` are one element's two names)."""
        plain = checker if isinstance(checker, PrimitiveChecker) and checker.plain else None
        self.fields[key] = (element, checker, plain)

    def check(self, obj: Any, path: str, ctx: Context) -> None:
        if type(obj) is not dict:
            ctx.add(
                "error",
                "structure",
                f"{path} must be a JSON object ({self.type_name}), found {json_kind(obj)}"
                f" ({self.where}, rule json-type).",
                path,
                "json-type",
                self.profile,
            )
            return
        shape = tuple(obj)
        plan = self.plans.get(shape)
        if plan is None:
            plan = self._plan(obj, shape, ctx)
        if plan.empty:
            ctx.add(
                "error",
                "invariant",
                f"{path} is empty: every element must have a value or children ({self.where}, rule ele-1).",
                path,
                "ele-1",
                self.profile,
            )
        if self.is_resource and obj.get("resourceType") != self.type_name:
            ctx.add(
                "error",
                "structure",
                f"{path} is a {obj.get('resourceType')!r} where {self.where} expects a {self.type_name}"
                " (rule resource-type).",
                path,
                "resource-type",
                self.profile,
            )
        for key, kind, element, checker, quick in plan.steps:
            value = obj[key]
            if kind is _SINGLE and type(value) is not list:
                # ElementChecker.check's single value, without its call: most keys of a resource,
                # a plain primitive's kind and format tested here, its path made only when needed
                if (
                    quick is not None
                    and type(value) in quick.json
                    and (
                        quick.regex is None
                        or (quick.regex.fullmatch(value) is not None and len(value) <= MAX_STRING)
                    )
                ):
                    if not element.assertions:
                        continue
                    here = f"{path}.{key}"
                else:
                    here = f"{path}.{key}"
                    checker.check(value, here, ctx)
                for assertion in element.assertions:
                    assertion.check(value, here, ctx)
            elif kind <= _FIELD:  # a list where one value goes, or an array
                element.check(value, key, checker, path, ctx)
            else:
                self._odd_key(key, kind, element, checker, value, path, ctx)
        for element in plan.missing:
            element.missing(path, ctx)
        for step in plan.tail:
            step(obj, path, ctx)

    def _plan(self, obj: dict[str, Any], shape: tuple[str, ...], ctx: Context) -> Plan:
        """What the keys alone settle: each key's element, a choice given twice, unknown keys,
        required elements missing, and which assertions can say anything (Invariants.for_shape)."""
        global _PLAN_STEPS_LEFT
        fields = self.fields
        steps: list[Step] = []
        present: dict[ElementChecker, str] = {}  # element → the JSON name it was given by
        known = True
        for key in shape:
            hit = fields.get(key)
            if hit is not None:
                element, checker, quick = hit
                if element.choice and present.setdefault(element, key) != key:
                    steps.append((key, _SECOND_CHOICE, element, checker, None))
                else:
                    steps.append((key, _SINGLE if element.single else _FIELD, element, checker, quick))
                continue
            name = key[1:] if key[:1] == "_" else key  # "_birthDate": the extensions of birthDate
            hit = fields.get(name)
            if hit is None or name == key or not hit[1].primitive:
                if not (key == "resourceType" and self.is_resource):
                    steps.append((key, _UNKNOWN, None, None, None))
                    known = False
                continue
            element = hit[0]
            doubled = present.setdefault(element, name) != name
            steps.append((key, _SECOND_EXTENSIONS if doubled else _EXTENSIONS, element, None, None))
        missing = tuple(
            # a plain element is named as itself; choices and "_name" keys were noted in present
            e
            for e in self.required
            if e not in present and (e.choice or e.name not in shape)
        )
        tail: list[Callable[[Any, str, Context], None]] = []
        for assertion in self.assertions:
            for_shape = getattr(assertion, "for_shape", None)
            tail += [assertion.check] if for_shape is None else for_shape(obj, shape, ctx)
        plan = Plan(tuple(steps), missing, tuple(tail), not obj or shape == ("id",))
        if known and len(self.plans) < _PLANS_PER_CHECKER and len(shape) < _PLAN_STEPS_LEFT:
            _PLAN_STEPS_LEFT -= len(shape)  # hostile input's shapes are not kept (unknown keys)
            self.plans[shape] = plan
        return plan

    def _odd_key(
        self,
        key: str,
        kind: int,
        element: ElementChecker | None,
        checker: TypeChecker | None,
        value: Any,
        path: str,
        ctx: Context,
    ) -> None:
        """A key that is not simply an element's: unknown, a choice given twice, "_birthDate"."""
        if element is None:
            ctx.add(
                "error",
                "structure",
                f"Unknown element {key!r} at {path}: it is not part of {self.label} in FHIR R4"
                f" ({self.where}, rule unknown-element).",
                f"{path}.{key}",
                "unknown-element",
                self.profile,
            )
            return
        if kind is _SECOND_CHOICE or kind is _SECOND_EXTENSIONS:
            element.second_choice(key, path, ctx)
        if checker is None:
            element.check_primitive_extension(value, key, path, ctx)
        else:
            element.check(value, key, checker, path, ctx)


# What a key of an object is (Plan.steps): a single-valued element's (ElementChecker.single),
# another element's, a choice element's second name, the extensions of a primitive
# ("_birthDate"; of a second choice), or unknown.
_SINGLE, _FIELD, _SECOND_CHOICE, _EXTENSIONS, _SECOND_EXTENSIONS, _UNKNOWN = 0, 1, 2, 3, 4, 5
# (key, kind, its ElementChecker, its TypeChecker, a plain primitive's checker): None where unknown
Step = tuple[str, int, Any, Any, "PrimitiveChecker | None"]


class Plan:
    """An object checker's walk for one shape of object (its keys, in order: a producer writes
    the objects of one element alike, so a few shapes serve a whole message)."""

    __slots__ = ("empty", "missing", "steps", "tail")

    def __init__(
        self,
        steps: tuple[Step, ...],
        missing: tuple[ElementChecker, ...],
        tail: tuple[Callable[[Any, str, Context], None], ...],
        empty: bool,
    ) -> None:
        self.steps = steps
        self.missing = missing  # required elements the shape lacks
        self.tail = tail  # the object's assertions that can say anything of this shape
        self.empty = empty  # ele-1: no value and no children


# Plans kept: per checker, more shapes than the examples of R4 give any one element (691 for
# ElementDefinition); in all, a bound on memory whatever is sent (a step is ~100 bytes).
_PLANS_PER_CHECKER = 2048
_PLAN_STEPS_LEFT = 200_000


Prepare = Callable[[Any, str, "Context"], None]


class ElementChecker:
    """One element of an object: array or single value, cardinality, slicing, item assertions."""

    __slots__ = (
        "array",
        "assertions",
        "choice",
        "label",
        "max",
        "min",
        "name",
        "prepare",
        "profile",
        "slicing",
        "where",
    )

    def __init__(self, name: str, label: str, min_: int, max_: int | None, array: bool, where: Where) -> None:
        self.name = name
        self.label = label
        self.min = min_
        self.max = max_
        self.array = array
        self.choice = name.endswith("[x]")
        self.where = where
        self.profile = where.url
        self.assertions: list[Assertion] = []
        self.slicing: SliceGroup | None = None
        self.prepare: Prepare | None = None  # runs on every item before slices are matched

    @property
    def required(self) -> bool:
        return self.min > 0 or (self.slicing is not None and self.slicing.required)

    @property
    def single(self) -> bool:
        """One value, allowed, with nothing to run on it but its type's checker and assertions."""
        return not self.array and self.max != 0 and self.prepare is None and self.slicing is None

    def check(self, value: Any, key: str, checker: TypeChecker, path: str, ctx: Context) -> None:
        here = f"{path}.{key}"
        if not self.array:
            if type(value) is list:
                self._not_array(here, ctx)
                return
            if self.max == 0:
                self._too_many(1, here, ctx)
            if self.prepare is not None:
                self.prepare(value, here, ctx)
            checker.check(value, here, ctx)
            for assertion in self.assertions:
                assertion.check(value, here, ctx)
            return
        if type(value) is not list or not value:
            ctx.add(
                "error",
                "structure",
                f"{here} must be a non-empty JSON array: {self.label} repeats"
                f" ({self.where}, rule json-type).",
                here,
                "json-type",
                self.profile,
            )
            return
        count = len(value)
        if count < self.min:
            self._too_few(count, path, ctx)
        if self.max is not None and count > self.max:
            self._too_many(count, here, ctx)
        if self.prepare is not None:
            for i, item in enumerate(value):
                self.prepare(item, f"{here}[{i}]", ctx)
        if self.slicing is not None:
            self.slicing.check(value, here, path, checker, self, ctx)
            return
        primitive = checker.primitive
        for i, item in enumerate(value):
            if item is None and primitive:
                continue  # a null kept in place for a "_name" extension
            at = f"{here}[{i}]"
            checker.check(item, at, ctx)
            for assertion in self.assertions:
                assertion.check(item, at, ctx)

    def check_primitive_extension(self, value: Any, key: str, path: str, ctx: Context) -> None:
        """`_birthDate`: the id and extensions of a primitive value."""
        element = ctx.resolver.element_checker()
        here = f"{path}.{key}"
        for i, item in enumerate(value if type(value) is list else [value]):
            if item is not None:
                element.check(item, f"{here}[{i}]" if type(value) is list else here, ctx)

    def missing(self, path: str, ctx: Context) -> None:
        if self.min > 0:
            self._too_few(0, path, ctx)
        if self.slicing is not None:
            self.slicing.counts_ok([0] * len(self.slicing.slices), path, ctx)

    def second_choice(self, key: str, path: str, ctx: Context) -> None:
        ctx.add(
            "error",
            "structure",
            f"{path}.{key}: {self.label} is a choice of types and takes one value; found several"
            f" ({self.where}, rule choice-type).",
            f"{path}.{key}",
            "choice-type",
            self.profile,
        )

    def _too_few(self, count: int, path: str, ctx: Context) -> None:
        ctx.add(
            "error",
            "required",
            f"{self.label}: at least {self.min} required, found {count} at {path}"
            f" ({self.where}, rule cardinality-min).",
            path,
            "cardinality-min",
            self.profile,
        )

    def _too_many(self, count: int, here: str, ctx: Context) -> None:
        ctx.add(
            "error",
            "structure",
            f"{self.label}: at most {self.max} allowed, found {count} ({self.where}, rule cardinality-max).",
            here,
            "cardinality-max",
            self.profile,
        )

    def _not_array(self, here: str, ctx: Context) -> None:
        ctx.add(
            "error",
            "structure",
            f"{here} must be a single value, not an array: {self.label} does not repeat"
            f" ({self.where}, rule json-type).",
            here,
            "json-type",
            self.profile,
        )


class TypeNotAllowed:
    """A choice type that R4 allows but the profile has ruled out (valueString where only date goes)."""

    primitive = False
    __slots__ = ("allowed", "label", "where")

    def __init__(self, label: str, allowed: list[str], where: Where) -> None:
        self.label, self.allowed, self.where = label, allowed, where

    def check(self, value: Any, path: str, ctx: Context) -> None:
        ctx.add(
            "error",
            "structure",
            f"{path}: this type is not allowed for {self.label}; allowed: {', '.join(self.allowed)}"
            f" ({self.where}, rule type-not-allowed).",
            path,
            "type-not-allowed",
            self.where.url,
        )


Matcher = Callable[[Any], bool]


class Slice:
    __slots__ = ("checker", "element", "matches", "name")

    def __init__(self, name: str, element: ElementChecker, checker: TypeChecker, matches: Matcher) -> None:
        self.name = name
        self.element = element  # cardinality of the slice and its per-item assertions
        self.checker = checker
        self.matches = matches


class SliceGroup:
    """The slices of a repeating element: each item goes to the first slice it matches."""

    __slots__ = ("closed", "label", "slices", "where")

    def __init__(self, label: str, slices: list[Slice], closed: bool, where: Where) -> None:
        self.label = label
        self.slices = slices
        self.closed = closed
        self.where = where

    @property
    def required(self) -> bool:
        return any(s.element.min > 0 for s in self.slices)

    def check(
        self,
        items: list[Any],
        here: str,
        parent: str,
        checker: TypeChecker,
        element: ElementChecker,
        ctx: Context,
    ) -> None:
        counts = [0] * len(self.slices)
        for i, item in enumerate(items):
            at = f"{here}[{i}]"
            for n, candidate in enumerate(self.slices):
                if candidate.matches(item):
                    counts[n] += 1
                    candidate.checker.check(item, at, ctx)
                    for assertion in candidate.element.assertions:
                        assertion.check(item, at, ctx)
                    break
            else:
                if self.closed:
                    names = ", ".join(s.name for s in self.slices)
                    ctx.add(
                        "error",
                        "structure",
                        f"{at} matches none of the slices of {self.label} ({names}) and the slicing is"
                        f" closed ({self.where}, rule slice-closed).",
                        at,
                        "slice-closed",
                        self.where.url,
                    )
                    continue
                checker.check(item, at, ctx)
                for assertion in element.assertions:
                    assertion.check(item, at, ctx)
        self.counts_ok(counts, parent, ctx)

    def counts_ok(self, counts: list[int], parent: str, ctx: Context) -> None:
        for candidate, count in zip(self.slices, counts, strict=True):
            low, high = candidate.element.min, candidate.element.max
            if count < low or (high is not None and count > high):
                expected = f"{low}..{'*' if high is None else high}"
                ctx.add(
                    "error",
                    "required" if count < low else "structure",
                    f"{self.label}:{candidate.name}: {expected} required, found {count} at {parent}"
                    f" ({candidate.element.where}, rule slice-cardinality).",
                    parent,
                    "slice-cardinality",
                    candidate.element.profile,
                )


class ProfiledResource:
    """An element whose type is a resource of one profile (a message profile's slice of
    Bundle.entry.resource): checked as a resource, once (Context.check_resource)."""

    primitive = False
    __slots__ = ("checker",)

    def __init__(self, checker: ObjectChecker) -> None:
        self.checker = checker

    def check(self, value: Any, path: str, ctx: Context) -> None:
        if type(value) is dict:
            ctx.check_resource(self.checker, value, path)
        else:
            self.checker.check(value, path, ctx)  # says what it is instead


class ResourceChecker:
    """An element of type Resource (Bundle.entry.resource, contained): checked as what it says it is,
    against the profiles planned for it, those in its meta.profile (and, for an Observation of a
    vital sign, the core profile for it), or else the R4 base."""

    primitive = False
    __slots__ = ()

    def check(self, value: Any, path: str, ctx: Context) -> None:
        resolver = ctx.resolver
        if type(value) is not dict:
            ctx.add(
                "error",
                "structure",
                f"{path} must be a resource (a JSON object), found {json_kind(value)} (rule json-type).",
                path,
                "json-type",
                None,
            )
            return
        key = id(value)
        planned = ctx.planned.get(key)
        if planned is None:
            planned = resolver.claimed_profiles(value)
        if planned:
            for checker in planned:
                ctx.check_resource(checker, value, path)
            return
        if key in ctx.done:
            return  # already checked against a profile, through a reference
        rtype = value.get("resourceType")
        base = resolver.resource(rtype) if type(rtype) is str else None
        if base is None:
            ctx.add(
                "error",
                "structure",
                f"{path}: {rtype!r} is not a FHIR R4 resource type (rule resource-type).",
                path,
                "resource-type",
                None,
            )
            return
        ctx.check_resource(base, value, path)


class ExtensionChecker:
    """An extension: checked against its definition when the URL names a loaded one. A modifier
    extension must name one: what changes the meaning of a resource is never passed on unread."""

    primitive = False
    __slots__ = ("base", "modifier")

    def __init__(self, *, modifier: bool = False) -> None:
        self.base: ObjectChecker | None = None  # the R4 Extension, set once compiled (it contains itself)
        self.modifier = modifier

    def check(self, value: Any, path: str, ctx: Context) -> None:
        url = value.get("url") if type(value) is dict else None
        definition = ctx.resolver.extension(url) if type(url) is str else None
        if definition is None and self.modifier and type(url) is str:
            reject = ctx.resolver.unknown_modifier_extensions == "reject"
            ctx.add(
                "error" if reject else "warning",
                "not-supported" if reject else "informational",
                f"{path}: modifier extension {url} is not defined in any loaded package; a modifier"
                " extension changes the meaning of the resource, so what it says is not understood"
                + (
                    " and the resource is rejected (policy LUS_UNKNOWN_MODIFIER_EXTENSIONS=reject)"
                    if reject
                    else "; accepted by policy (LUS_UNKNOWN_MODIFIER_EXTENSIONS=warn)"
                )
                + " (rule modifier-extension-unknown).",
                path,
                "modifier-extension-unknown",
                None,
            )
        checker = definition or self.base
        assert checker is not None
        checker.check(value, path, ctx)
