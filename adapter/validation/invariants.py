"""Which keys of an object a FHIRPath invariant can see, so that most invariants cost a glance.

Nearly every invariant of the R4 core is about a few child elements (`contained.contained.empty()`,
`reference.startsWith('#').not() or ...`): when an object has none of them, every path from the
object is empty and the invariant's answer is the one it gives on an empty object, computed once.
`focus_keys` names the keys that can matter: every member name in the expression, as JSON keys
(`value` also matches `valueQuantity`, `_value…` its primitive extensions). It returns None —
always evaluate — when the expression looks at its focus other than through member names:
`$this`, `%resource`/`%context`, or a function called on the focus itself (`hasValue()`,
`children()`, `descendants()`, `is(...)`) outside the argument of another function.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from adapter.fhir.fhirpath import choice_keys

_TOKEN = re.compile(
    r"\s+|//[^\n]*|/\*.*?\*/|'(?:[^'\\]|\\.)*'|`[^`]*`|@[0-9T:.\-+Z]*|\d+(?:\.\d+)?|"
    r"[%$]?[A-Za-z_][A-Za-z0-9_]*|!=|<=|>=|!~|.",
    re.DOTALL,
)
# functions that do not read their focus (iif: its arguments are paths from the focus, seen here)
_CONSTANT_CALLS = frozenset({"today", "now", "iif"})
# functions whose arguments are evaluated per item of their input (or only logged: trace)
_ITERATING = frozenset(
    {"where", "select", "all", "exists", "repeat", "aggregate", "ofType", "is", "as", "trace"}
)
_OPERATOR_WORDS = frozenset({"and", "or", "xor", "implies", "in", "contains", "is", "as", "div", "mod"})
_FOCUS_VARIABLES = frozenset({"%resource", "%rootResource", "%context", "$this", "$index", "$total"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def focus_keys(expression: str) -> tuple[str, ...] | None:
    """The JSON keys whose absence makes every path of `expression` from its focus empty."""
    names: set[str] = set()
    stack: list[str] = []  # per open parenthesis: "iter" (criteria run per item), "call" or "group"
    previous, before, typed = "", "", False
    tokens = [t for t in _TOKEN.findall(expression) if t.strip() and not t.startswith(("//", "/*"))]
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token == "(":
            if previous in _ITERATING or (previous == "iif" and before == "."):
                stack.append("iter")
            elif _NAME.fullmatch(previous) and previous not in _OPERATOR_WORDS:
                stack.append("call")
            else:
                stack.append("group")
        elif token == ")":
            if stack:
                stack.pop()
        elif "iter" in stack:
            pass  # evaluated per item of a path: empty when the path is
        elif token in _FOCUS_VARIABLES:
            return None
        elif token[0] == "`" and (previous != "." or typed):
            names.add(token[1:-1])
            typed = False
        elif typed and _NAME.fullmatch(token) and previous == ".":
            names.add(token)  # Appointment.status: the member after the type name
            typed = False
        elif _NAME.fullmatch(token) and token not in _OPERATOR_WORDS and previous != ".":
            if following == "(":
                if token not in _CONSTANT_CALLS:
                    return None  # a function applied to the focus itself
            elif previous in ("is", "as"):
                pass  # a type name
            elif token[0].isupper():
                if following != ".":
                    return None  # a type name as a value
                typed = True  # a type name starting a path: Patient.name
            elif token in ("true", "false"):
                pass
            else:
                names.add(token)
        before, previous = previous, token
    return tuple(sorted(names | {"_" + n for n in names}))


# Invariants of the R4 core the validator runs natively, where they are checked on every object
# (ele-1: ObjectChecker; ext-1: ExtensionValue; per-1: PeriodOrder).
NATIVE = frozenset({"ele-1", "ext-1", "per-1"})


_INTEGER = re.compile(r"[+-]?\d+")  # toInteger()'s strings


class KeyGuard:
    """A guard that holds only where the object's `key` is a string `test` finds (a compiled
    pattern's match or search, called from C): an object without the key needs nothing, and one
    with it costs a single call of the plan's step (assertions.Invariant.for_shape)."""

    __slots__ = ("key", "test")

    def __init__(self, key: str, test: Callable[[str], object]) -> None:
        self.key, self.test = key, test

    def __call__(self, value: Any) -> bool:
        found = value.get(self.key) if type(value) is dict else None
        return type(found) is str and self.test(found) is not None


def _not_a_count(value: Any) -> bool:
    """eld-3 `empty() or ($this = '*') or (toInteger() >= 0)`: met by '*' and a whole number not
    below 0 (toInteger's pattern); anything else is left to the expression."""
    if type(value) is not str:
        return True
    return value != "*" and not (_INTEGER.fullmatch(value) is not None and int(value) >= 0)


# Invariants that can fail only when a cheap test holds (else their first clause is true):
# ref-1 `reference.startsWith('#').not() or ...`; org-2/org-3 `where(use = 'home').empty()`;
# bdl-8 `fullUrl.contains('/_history/').not()`; eld-3 on a string (an element's max), which the
# Python checks (PYTHON, objects only) cannot take.
GUARDS: dict[str, Callable[[Any], bool]] = {
    "ref-1": KeyGuard("reference", re.compile("#").match),
    "org-2": KeyGuard("use", re.compile("home").fullmatch),
    "org-3": KeyGuard("use", re.compile("home").fullmatch),
    "bdl-8": KeyGuard("fullUrl", re.compile("/_history/").search),
    "eld-3": _not_a_count,
}

# Invariants of the R4 core that cannot run here, with why; listed at start-up.
UNSUPPORTED: dict[str, str] = {
    "txt-1": "htmlChecks() (XHTML content rules) is not implemented by fhirpathpy",
    "txt-2": "htmlChecks() (XHTML content rules) is not implemented by fhirpathpy",
    "ctm-1": "resolve() needs the referenced resource, which fhirpathpy cannot fetch",
    "dom-6": "a best-practice guideline (narrative in every resource), which the HL7 validator also"
    " leaves out unless asked",
}


def _decimal(value: Any) -> Any:
    return value.get("value") if isinstance(value, dict) else None


def _range_order(value: dict[str, Any]) -> list[bool]:
    """rng-2 `low.empty() or high.empty() or (low <= high)`: Quantities of one unit compared."""
    low, high = value.get("low"), value.get("high")
    a, b = _decimal(low), _decimal(high)
    if not isinstance(a, int | float) or not isinstance(b, int | float) or isinstance(a, bool):
        return [True]
    assert isinstance(low, dict) and isinstance(high, dict)
    if (low.get("code"), low.get("system")) != (high.get("code"), high.get("system")):
        return [True]  # other units: unit conversion is not done here
    return [a <= b]


def _exists_is_boolean(value: dict[str, Any]) -> list[bool]:
    """que-7 `operator = 'exists' implies (answer is Boolean)` (fhirpathpy cannot type answer[x])."""
    return [value.get("operator") != "exists" or "answerBoolean" in value]


def _several_enable_when(value: dict[str, Any]) -> list[bool]:
    """que-12 as its text says, "more than one enableWhen": R4's expression has `count() > 2`
    (an erratum; the HL7 validator runs it as > 1)."""
    when = value.get("enableWhen")
    return [not (isinstance(when, list) and len(when) > 1) or "enableBehavior" in value]


def _contained_referenced(value: dict[str, Any]) -> list[bool]:
    """dom-3: every contained resource is referred to from elsewhere in the resource ('#id' in a
    reference, canonical or uri — any string here), or refers to its container ('#'). A walk: the
    FHIRPath form is slow on a resource with contained resources (bench/results/README.md)."""
    contained = value.get("contained")
    if not isinstance(contained, list) or not contained:
        return [True]
    strings: set[str] = set()
    level: list[Any] = [v for k, v in value.items() if k != "contained"]
    level += [c for c in contained if isinstance(c, dict)]
    while level:
        deeper: list[Any] = []
        for item in level:
            if isinstance(item, str):
                if item.startswith("#"):
                    strings.add(item)
            elif isinstance(item, dict):
                deeper += item.values()
            elif isinstance(item, list):
                deeper += item
        level = deeper
    for resource in contained:
        rid = resource.get("id") if isinstance(resource, dict) else None
        if f"#{rid}" not in strings and not _refers_to_container(resource):
            return [False]
    return [True]


def _refers_to_container(resource: Any) -> bool:
    level = [resource]
    while level:
        deeper: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                if item.get("reference") == "#":
                    return True
                deeper += item.values()
            elif isinstance(item, list):
                deeper += item
        level = deeper
    return False


def _named_or_identified(organization: dict[str, Any]) -> list[bool] | None:
    """org-1 `(identifier.count() + name.count()) > 0`. None (the expression answers) where the
    name is there only as its extensions."""
    if "_name" in organization:
        return None
    return [bool(_items(organization.get("identifier")) or _items(organization.get("name")))]


def _entries(bundle: dict[str, Any]) -> list[Any]:
    entries = bundle.get("entry")
    return entries if type(entries) is list else []


def _entry_part(part: str, kinds: tuple[str, ...]) -> Callable[[dict[str, Any]], list[bool]]:
    """bdl-3/bdl-4 `entry.all(request.exists() = (%resource.type = 'batch' or …))`."""

    def check(bundle: dict[str, Any]) -> list[bool]:
        parts = [e.get(part) for e in _entries(bundle) if type(e) is dict]  # a comprehension: fast
        if bundle.get("type") in kinds:
            return [None not in parts]
        return [parts.count(None) == len(parts)]

    return check


def _distinct_full_urls(bundle: dict[str, Any]) -> list[bool]:
    """bdl-7 `(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl &
    resource.meta.versionId).isDistinct()`."""
    if bundle.get("type") == "history":
        return [True]
    seen: set[str] = set()
    for e in _entries(bundle):
        url = e.get("fullUrl") if type(e) is dict else None
        if type(url) is not str:
            continue
        resource = e.get("resource")
        meta = resource.get("meta") if type(resource) is dict else None
        if meta is not None:
            version = meta.get("versionId") if type(meta) is dict else None
            url += version if type(version) is str else ""
        if url in seen:
            return [False]
        seen.add(url)
    return [True]


def _first_entry_is(kind: str, rtype: str) -> Callable[[dict[str, Any]], list[bool]]:
    """bdl-11/bdl-12 `type = 'document' implies entry.first().resource.is(Composition)`."""

    def check(bundle: dict[str, Any]) -> list[bool]:
        if bundle.get("type") != kind:
            return [True]
        first = next((e for e in _entries(bundle) if type(e) is dict), None)
        resource = first.get("resource") if first is not None else None
        return [type(resource) is dict and resource.get("resourceType") == rtype]

    return check


def _one_string(value: Any) -> tuple[bool, str | None]:
    """(modelled, the string): a member path that gives nothing or one string, as Python sees it."""
    items = _items(value)
    if not items:
        return True, None
    return (True, items[0]) if len(items) == 1 and type(items[0]) is str else (False, None)


def _search_only_in_searchset(bundle: dict[str, Any]) -> list[bool] | None:
    """bdl-2 `entry.search.empty() or (type = 'searchset')`. None (the expression answers) on an
    entry that is not an object or a type that is not one string."""
    entries = _items(bundle.get("entry"))
    searches = [e.get("search") for e in entries if type(e) is dict]
    if len(searches) < len(entries):
        return None
    if searches.count(None) == len(searches) or not any(_present(s) for s in searches):
        return [True]
    modelled, kind = _one_string(bundle.get("type"))
    if not modelled:
        return None
    return [] if kind is None else [kind == "searchset"]  # false or empty: empty


def _document_has(
    test: Callable[[dict[str, Any]], bool | None],
) -> Callable[[dict[str, Any]], list[bool] | None]:
    """bdl-9/bdl-10 `type = 'document' implies (…)`: true unless a document; the right side
    decides for a document, or for no type at all when it is true (empty implies true is true).
    None (the expression answers) where `test` answers None or the type is not one string."""

    def check(bundle: dict[str, Any]) -> list[bool] | None:
        modelled, kind = _one_string(bundle.get("type"))
        if not modelled:
            return None
        if kind is not None and kind != "document":
            return [True]
        met = test(bundle)
        if met is None:
            return None
        return [met] if kind is not None or met else []

    return check


def _identified(bundle: dict[str, Any]) -> bool | None:
    """bdl-9's right side `identifier.system.exists() and identifier.value.exists()`."""
    identifiers = _items(bundle.get("identifier"))
    if any(type(i) is not dict or "_system" in i or "_value" in i for i in identifiers):
        return None
    return any(_present(i.get("system")) for i in identifiers) and any(
        _present(i.get("value")) for i in identifiers
    )


def _timestamped(bundle: dict[str, Any]) -> bool | None:
    """bdl-10's right side `timestamp.hasValue()`."""
    modelled, timestamp = _one_string(bundle.get("timestamp"))
    return timestamp is not None if modelled and "_timestamp" not in bundle else None


def _codes_distinct(system: dict[str, Any]) -> list[bool] | None:
    """csd-1 `concept.code.combine($this.descendants().concept.code).isDistinct()`: the codes of
    the concepts at every depth (and of any descendant with concepts, a contained CodeSystem's or a
    ValueSet's) distinct. fhirpathpy takes 1 ms per CodeSystem for it and seconds on a large one;
    this, a walk. None (fhirpathpy answers) when a code is not a string."""
    codes = _concept_codes(system)
    level: list[Any] = list(system.values())
    while level:
        deeper: list[Any] = []
        for item in level:
            if type(item) is dict:
                if "concept" in item:
                    codes += _concept_codes(item)
                deeper += item.values()
            elif type(item) is list:
                deeper += item
        level = deeper
    if any(type(code) is not str for code in codes):
        return None
    return [len(set(codes)) == len(codes)]


def _concept_codes(item: dict[str, Any]) -> list[Any]:
    """`concept.code` of one object, as the FHIRPath member path reads it."""
    concepts = item.get("concept")
    out: list[Any] = []
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        code = concept.get("code") if isinstance(concept, dict) else None
        if isinstance(code, list):
            out += [c for c in code if c is not None]
        elif code is not None:
            out.append(code)
    return out


def _present(value: Any) -> bool:
    """Whether a FHIRPath member path to this JSON value is non-empty."""
    return value is not None and (type(value) is not list or any(v is not None for v in value))


def _items(value: Any) -> list[Any]:
    """A JSON value as the FHIRPath collection a member path gives (nulls left out): the list
    itself when it has no null (a copy costs more than most checks), so not to be changed."""
    if type(value) is list:
        return value if None not in value else [v for v in value if v is not None]
    return [] if value is None else [value]


_ROOT_ONLY = ("label", "code", "requirements")


def _root_elements_plain(definition: dict[str, Any]) -> list[bool] | None:
    """sdf-9 `children().element.where(path.contains('.').not()).label.empty() and … .code.empty()
    and … .requirements.empty()`: the root element (snapshot's, differential's) has no label, code
    or requirements. None (the expression answers) for a path that is not one string."""
    for key, value in definition.items():
        if key == "resourceType" or key[:1] == "_":
            continue
        for child in _items(value):
            for element in _items(child.get("element")) if isinstance(child, dict) else ():
                path = element.get("path") if isinstance(element, dict) else None
                if path is None or (type(path) is list and not _items(path)):
                    continue
                if type(path) is not str:
                    return None
                if "." not in path and any(
                    _present(element.get(k)) for k in ("label", "code", "requirements")
                ):
                    return [False]
    return [True]


_CORE_TYPE_CODE = re.compile(r"^[a-zA-Z0-9]+$")
_CORE_SNAPSHOT_TYPE_CODE = re.compile(r"^[a-zA-Z0-9\.]+$")
_SYSTEM_TYPE = re.compile(r"^http:\/\/hl7\.org\/fhirpath\/System\.[A-Z][A-Za-z]+$")


def _core_type_codes(definition: dict[str, Any]) -> list[bool] | None:
    """sdf-19 `url.startsWith('http://hl7.org/fhir/StructureDefinition') implies
    (differential.element.type.code.all(matches('^[a-zA-Z0-9]+$') or matches(<System type>)) and
    snapshot.element.type.code.all(matches('^[a-zA-Z0-9\\.]+$') or matches(<System type>)))`.
    None (the expression answers) on a url or code that is not one string."""
    url = _items(definition.get("url"))
    if len(url) > 1 or (url and type(url[0]) is not str):
        return None
    if url and not url[0].startswith("http://hl7.org/fhir/StructureDefinition"):
        return [True]
    codes_ok = True
    for part, allowed in (("differential", _CORE_TYPE_CODE), ("snapshot", _CORE_SNAPSHOT_TYPE_CODE)):
        codes: set[str] = set()  # a few codes, on many elements: each tested once
        for element in _elements(definition.get(part)):
            for t in _items(element.get("type")) if isinstance(element, dict) else ():
                code = t.get("code") if isinstance(t, dict) else None
                if type(code) is str:
                    codes.add(code)
                    continue
                for item in _items(code):
                    if type(item) is not str:
                        return None
                    codes.add(item)
        codes_ok = codes_ok and all(allowed.search(c) or _SYSTEM_TYPE.search(c) for c in codes)
    if not url:  # empty implies: true when the right side is, else empty
        return [True] if codes_ok else []
    return [codes_ok]


def _elements(holder: Any) -> list[Any]:
    """`element` of a snapshot or differential (or of each, given several): not to be changed."""
    if type(holder) is dict:
        return _items(holder.get("element"))  # no copy of a profile's elements
    return [e for h in _items(holder) if isinstance(h, dict) for e in _items(h.get("element"))]


def _snapshot_elements_complete(snapshot: dict[str, Any]) -> list[bool]:
    """sdf-3 `element.all(definition.exists() and min.exists() and max.exists())`."""
    for element in _elements(snapshot):
        if not isinstance(element, dict):
            return [False]
        for key in ("definition", "min", "max"):
            value = element.get(key)
            if value is None or (type(value) is list and not _present(value)):
                return [False]
    return [True]


def _root_not_sliced(definition: dict[str, Any]) -> list[bool] | None:
    """sdf-23 `(snapshot | differential).element.all(path.contains('.').not() implies
    sliceName.empty())`; an element with a slice name and no path fails too (empty implies false is
    empty, which all() does not count as true). None (the expression answers) for a path that is
    not one string."""
    met = True
    for element in _elements(definition.get("snapshot")) + _elements(definition.get("differential")):
        if not isinstance(element, dict):
            continue
        modelled, path = _path_of(element)
        if not modelled:
            return None
        if (
            element.get("sliceName") is not None
            and _present(element["sliceName"])
            and (path is None or "." not in path)
        ):
            met = False
    return [met]


def _element_ids_distinct(part: str) -> Callable[[dict[str, Any]], list[bool] | None]:
    """sdf-16 `snapshot.element.all(id.exists()) and snapshot.element.id.trace('ids').isDistinct()`,
    sdf-17 the same of the differential. None (the expression answers) for an id that is not a
    string."""

    def check(definition: dict[str, Any]) -> list[bool] | None:
        ids: list[Any] = []
        for element in _elements(definition.get(part)):
            found = _items(element.get("id")) if isinstance(element, dict) else []
            if not found:
                return [False]
            ids += found
        if any(type(i) is not str for i in ids):
            return None
        return [len(set(ids)) == len(ids)]

    return check


def _min_not_above_max(element: dict[str, Any]) -> list[bool] | None:
    """eld-2 `min.empty() or max.empty() or (max = '*') or iif(max != '*', min <= max.toInteger())`.
    None (the expression answers) unless min is one integer and max one string."""
    low, high = element.get("min"), element.get("max")
    if low is None or high is None:
        return [True]
    if type(low) is not int or type(high) is not str:
        return None
    if high == "*":
        return [True]
    if not _INTEGER.fullmatch(high):
        return []  # max.toInteger() empty: so is the comparison, and the whole `or`
    return [low <= int(high)]


def _member_values(objects: list[Any], member: str) -> list[Any]:
    """`<objects>.<member>`, or `select(<member>)` on them."""
    return [v for o in objects if isinstance(o, dict) for v in _items(o.get(member))]


def _distinct_members(part: str, member: str) -> Callable[[dict[str, Any]], list[bool] | None]:
    """eld-13 `type.select(code).isDistinct()`, eld-14 `constraint.select(key).isDistinct()`.
    None (the expression answers) for a value that is not a string."""

    def check(element: dict[str, Any]) -> list[bool] | None:
        values: list[str] = []
        for item in _items(element.get(part)):
            value = item.get(member) if type(item) is dict else None
            if type(value) is str:
                values.append(value)
            elif value is not None:
                found = _items(value)
                if any(type(v) is not str for v in found):
                    return None
                values += found
        return [len(values) < 2 or len(set(values)) == len(values)]

    return check


_MATCHES_REMEMBERED = 8192  # answers per regex: every path of the R4 core twice over, not hostile input's


def _matches(member: str, pattern: str) -> Callable[[dict[str, Any]], list[bool] | None]:
    """eld-19 and eld-20 `path.matches(…)`, sdf-0 and vsd-0 `name.matches(…)`: a search, as
    fhirpathpy's (DOTALL). None (the expression answers) for a value that is not one string."""
    regex = re.compile(pattern, re.DOTALL)
    seen: dict[str, bool] = {}  # the same paths in every profile: a look-up costs less than a search

    def check(holder: dict[str, Any]) -> list[bool] | None:
        value = holder.get(member)
        if type(value) is str:
            met = seen.get(value)
            if met is None:
                met = regex.search(value) is not None
                if len(seen) < _MATCHES_REMEMBERED:
                    seen[value] = met
            return [met]
        modelled, value = _one_string(value)
        if not modelled:
            return None
        return [] if value is None else [regex.search(value) is not None]

    return check


# eld-19 `path.matches(…)`: names without blanks or punctuation, a choice's [x], a slice's :name
_ELD_19 = (
    r"""[^\s\.,:;\'"\/|?!@#$%&*()\[\]{}]{1,64}(\.[^\s\.,:;\'"\/|?!@#$%&*()\[\]{}]{1,64}(\[x\])?"""
    r"""(\:[^\s\.]+)?)*"""
)
# eld-20 `path.matches(…)`: a type name, then lower-case element names
_ELD_20 = r"[A-Za-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*(\[x])?)*"
# sdf-0 and vsd-0 `name.matches(…)`: a name usable by code generators
_COMPUTABLE_NAME = r"[A-Z]([A-Za-z0-9_]){0,254}"


def _modifier_explained(element: dict[str, Any]) -> list[bool] | None:
    """eld-18 `(isModifier.exists() and isModifier) implies isModifierReason.exists()`. None (the
    expression answers) unless isModifier is absent or one boolean."""
    flags = _items(element.get("isModifier"))
    if not flags:
        return [True]
    if len(flags) != 1 or type(flags[0]) is not bool:
        return None
    return [not flags[0] or _present(element.get("isModifierReason"))]


def _binding_on_coded_type(element: dict[str, Any]) -> list[bool] | None:
    """eld-11 `binding.empty() or type.code.empty() or type.select((code = 'code') or … or
    (code = 'uri')).exists()`: met whenever a type has a code, as written: select() keeps the
    false of `code = 'Period'` too, and exists() counts it. None (the expression answers) for a
    code that is not one string."""
    if not _present(element.get("binding")):
        return [True]
    for t in _items(element.get("type")):
        if isinstance(t, dict):
            codes = _items(t.get("code"))
            if len(codes) > 1 or (codes and type(codes[0]) is not str):
                return None
    return [True]


def _all_present(elements: list[Any], member: str) -> bool:
    """`element.all(<member>.exists())`."""
    return all(isinstance(e, dict) and _present(e.get(member)) for e in elements)


def _elements_based(snapshot: dict[str, Any]) -> list[bool]:
    """sdf-8b `element.all(base.exists())`."""
    return [_all_present(_items(snapshot.get("element")), "base")]


def _element_ids(definition: dict[str, Any]) -> list[bool]:
    """sdf-14 `snapshot.element.all(id.exists()) and differential.element.all(id.exists())`."""
    return [
        _all_present(_elements(definition.get("snapshot")), "id")
        and _all_present(_elements(definition.get("differential")), "id")
    ]


def _snapshot_paths_distinct(definition: dict[str, Any]) -> list[bool] | None:
    """sdf-1 `derivation = 'constraint' or snapshot.element.select(path).isDistinct()`. None (the
    expression answers) for a derivation or path that is not one string."""
    modelled, derivation = _one_string(definition.get("derivation"))
    if not modelled:
        return None
    if derivation == "constraint":
        return [True]
    paths = _member_values(_elements(definition.get("snapshot")), "path")
    if any(type(p) is not str for p in paths):
        return None
    if len(set(paths)) == len(paths):
        return [True]
    return [] if derivation is None else [False]  # empty or false: empty


_DEFAULT_VALUE = choice_keys("defaultValue") | {"defaultValue"}


def _core_without_defaults(definition: dict[str, Any]) -> list[bool] | None:
    """sdf-22 `url.startsWith('http://hl7.org/fhir/StructureDefinition') implies
    (snapshot.element.defaultValue.empty() and differential.element.defaultValue.empty())`.
    None (the expression answers) for a url that is not one string."""
    modelled, url = _one_string(definition.get("url"))
    if not modelled:
        return None
    if url is not None and not url.startswith("http://hl7.org/fhir/StructureDefinition"):
        return [True]
    if _has_default(_elements(definition.get("snapshot")) + _elements(definition.get("differential"))):
        return [] if url is None else [False]  # empty implies false: empty
    return [True]


def _has_default(elements: list[Any]) -> bool:
    """`element.defaultValue.exists()`: isdisjoint first, a glance at an element's keys rather
    than a test per key."""
    return any(
        isinstance(element, dict)
        and not _DEFAULT_VALUE.isdisjoint(element)
        and any(_present(element.get(k)) for k in _DEFAULT_VALUE.intersection(element))
        for element in elements
    )


# FHIRPath's three-valued logic, None being empty
def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return False if a is False and b is False else None


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return True if a and b else None


def _implies(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is True:
        return True
    return False if a is True and b is False else None


def _answer(value: bool | None) -> list[bool]:
    return [] if value is None else [value]


def _first_element(holder: Any) -> Any:
    """`element.first()` of a snapshot or differential (None if none), without a look at the rest."""
    elements = holder.get("element") if type(holder) is dict else None
    if type(elements) is list and elements and elements[0] is not None:
        return elements[0]
    found = _elements(holder)
    return found[0] if found else None


def _path_of(element: Any) -> tuple[bool, str | None]:
    """(modelled, the string): an element's `path`."""
    return _one_string(element.get("path")) if isinstance(element, dict) else (True, None)


def _paths_start_with(elements: list[Any], prefix: str) -> bool | None:
    """`element.all(path.startsWith(<prefix>))`, the prefix not empty (so that an empty path fails,
    as in fhirpathpy); None for a path that is not one string before the answer is known."""
    for element in elements:
        path = element.get("path") if type(element) is dict else None
        if type(path) is not str:
            modelled, path = _path_of(element)
            if not modelled:
                return None
        if path is None or not path.startswith(prefix):
            return False
    return True


def _under_type_operands(
    holder: dict[str, Any], definition: dict[str, Any], part: str
) -> tuple[list[Any], bool | None, str | None, str | None, str | None] | None:
    """sdf-8's and sdf-8a's operands: the holder's elements, `%resource.kind = 'logical'`,
    %resource.type, the first element's path and `%resource.<part>.element.first().path` (None
    where absent); None (the expression answers) where one is not one string."""
    elements = _items(holder.get("element"))
    modelled, kind = _one_string(definition.get("kind"))
    typed, rtype = _one_string(definition.get("type"))
    first, path = _path_of(elements[0] if elements else None)
    root, root_path = _path_of(_first_element(definition.get(part)))
    if not (modelled and typed and first and root):
        return None
    return elements, None if kind is None else kind == "logical", rtype, path, root_path


def _snapshot_under_type(snapshot: dict[str, Any], definition: dict[str, Any]) -> list[bool] | None:
    """sdf-8 `(%resource.kind = 'logical' or element.first().path = %resource.type) and
    element.tail().all(path.startsWith(%resource.snapshot.element.first().path & '.'))`: every
    path of the snapshot under its first. None (the expression answers) for a kind, type or path
    that is not one string."""
    operands = _under_type_operands(snapshot, definition, "snapshot")
    if operands is None:
        return None
    elements, logical, rtype, path, root_path = operands
    rooted = None if path is None or rtype is None else path == rtype
    under = _paths_start_with(elements[1:], (root_path or "") + ".")
    return None if under is None else _answer(_and(_or(logical, rooted), under))


_AFTER_FIRST_DOT = re.compile(r"\..*")  # sdf-8a's replaceMatches('\\..*', '')


def _differential_under_type(differential: dict[str, Any], definition: dict[str, Any]) -> list[bool] | None:
    """sdf-8a `(%resource.kind = 'logical' or element.first().path.startsWith(%resource.type)) and
    (element.tail().empty() or element.tail().all(path.startsWith(
    %resource.differential.element.first().path.replaceMatches('\\..*','') & '.')))`: every path
    of the differential under the first one's root. None (the expression answers) for a kind, type
    or path that is not one string."""
    operands = _under_type_operands(differential, definition, "differential")
    if operands is None:
        return None
    elements, logical, rtype, path, root_path = operands
    # fhirpathpy's startsWith: false on an empty string
    rooted = None if path is None or rtype is None else path != "" and path.startswith(rtype)
    prefix = (_AFTER_FIRST_DOT.sub("", root_path) if root_path is not None else "") + "."
    under = _paths_start_with(elements[1:], prefix) if len(elements) > 1 else True
    return None if under is None else _answer(_and(_or(logical, rooted), under))


def _is(value: str | None, wanted: str) -> bool | None:
    """`<member> = '<wanted>'` on a member that is one string or absent (None)."""
    return None if value is None else value == wanted


def _first_untyped(part: str, at_root: bool) -> Callable[[dict[str, Any]], list[bool] | None]:
    """sdf-15 `kind!='logical' implies snapshot.element.first().type.empty()`; sdf-15a, at_root,
    `(kind!='logical' and differential.element.first().path.contains('.').not()) implies
    differential.element.first().type.empty()`. None (the expression answers) for a kind or path
    that is not one string."""

    def check(definition: dict[str, Any]) -> list[bool] | None:
        head = _first_element(definition.get(part))
        modelled, kind = _one_string(definition.get("kind"))
        first, path = _path_of(head)
        if not modelled or not first:
            return None
        logical = _is(kind, "logical")
        condition = None if logical is None else not logical
        if at_root:
            condition = _and(condition, None if path is None else "." not in path)
        return _answer(_implies(condition, not (isinstance(head, dict) and _present(head.get("type")))))

    return check


def _snapshot_starts_at_type(definition: dict[str, Any]) -> list[bool] | None:
    """sdf-11 `kind != 'logical' implies snapshot.empty() or snapshot.element.first().path = type`.
    None (the expression answers) for a kind, type or path that is not one string."""
    modelled, kind = _one_string(definition.get("kind"))
    typed, rtype = _one_string(definition.get("type"))
    first, path = _path_of(_first_element(definition.get("snapshot")))
    if not (modelled and typed and first):
        return None
    logical = _is(kind, "logical")
    if not _present(definition.get("snapshot")):
        rooted: bool | None = True
    else:
        rooted = None if rtype is None else _is(path, rtype)
    return _answer(_implies(None if logical is None else not logical, rooted))


def _extension_context(definition: dict[str, Any]) -> list[bool] | None:
    """sdf-5 `type != 'Extension' or derivation = 'specialization' or (context.exists())`. None
    (the expression answers) for a type or derivation that is not one string."""
    typed, rtype = _one_string(definition.get("type"))
    derived, derivation = _one_string(definition.get("derivation"))
    if not typed or not derived:
        return None
    extension = _is(rtype, "Extension")
    not_extension = None if extension is None else not extension
    specialized = _is(derivation, "specialization")
    return _answer(_or(_or(not_extension, specialized), _present(definition.get("context"))))


def _root_not_sliced_in(holder: dict[str, Any]) -> list[bool] | None:
    """sdf-20 `element.where(path.contains('.').not()).slicing.empty()`. None (the expression
    answers) for a path that is not one string."""
    for element in _items(holder.get("element")):
        if not isinstance(element, dict):
            continue
        modelled, path = _one_string(element.get("path"))
        if not modelled:
            return None
        if path is not None and "." not in path and _present(element.get("slicing")):
            return [False]
    return [True]


def _defaults_in_specialization(definition: dict[str, Any]) -> list[bool] | None:
    """sdf-21 `differential.element.defaultValue.exists() implies (derivation = 'specialization')`.
    None (the expression answers) for a derivation that is not one string."""
    if not _has_default(_elements(definition.get("differential"))):
        return [True]
    modelled, derivation = _one_string(definition.get("derivation"))
    return _answer(_implies(True, _is(derivation, "specialization"))) if modelled else None


def _value_set_url(binding: dict[str, Any]) -> list[bool] | None:
    """eld-12 `valueSet.exists() implies (valueSet.startsWith('http:') or
    valueSet.startsWith('https') or valueSet.startsWith('urn:'))`. None (the expression answers)
    for a valueSet that is not one string."""
    modelled, url = _one_string(binding.get("valueSet"))
    if not modelled:
        return None
    return [url is None or url.startswith(("http:", "https", "urn:"))]


def _target_profile_on_reference(t: dict[str, Any]) -> list[bool] | None:
    """eld-17 `(code='Reference' or code = 'canonical') or targetProfile.empty()`. None (the
    expression answers) for a code that is not one string."""
    modelled, code = _one_string(t.get("code"))
    if not modelled:
        return None
    referring = None if code is None else code in ("Reference", "canonical")
    return _answer(_or(referring, not _present(t.get("targetProfile"))))


# Invariants of the R4 core that fhirpathpy evaluates wrongly or slowly (or R4 states wrongly), or
# that cost much time even compiled (on every element of a profile: eld-13, sdf-22 …), in Python;
# tests compare each with fhirpathpy where fhirpathpy can answer. A check answers None on data it
# leaves to the compiled expression.
PYTHON: dict[str, Callable[[dict[str, Any]], list[bool] | None]] = {
    "org-1": _named_or_identified,
    "rng-2": _range_order,
    "que-7": _exists_is_boolean,
    "que-12": _several_enable_when,
    "dom-3": _contained_referenced,
    "bdl-2": _search_only_in_searchset,
    "bdl-3": _entry_part("request", ("batch", "transaction", "history")),
    "bdl-4": _entry_part("response", ("batch-response", "transaction-response", "history")),
    "bdl-7": _distinct_full_urls,
    "bdl-9": _document_has(_identified),
    "bdl-10": _document_has(_timestamped),
    "bdl-11": _first_entry_is("document", "Composition"),
    "bdl-12": _first_entry_is("message", "MessageHeader"),
    "csd-1": _codes_distinct,
    "sdf-9": _root_elements_plain,
    "sdf-19": _core_type_codes,
    "sdf-3": _snapshot_elements_complete,
    "sdf-23": _root_not_sliced,
    "sdf-16": _element_ids_distinct("snapshot"),
    "sdf-17": _element_ids_distinct("differential"),
    "eld-2": _min_not_above_max,
    "eld-11": _binding_on_coded_type,
    "eld-13": _distinct_members("type", "code"),
    "eld-14": _distinct_members("constraint", "key"),
    "eld-18": _modifier_explained,
    "eld-19": _matches("path", _ELD_19),
    "eld-20": _matches("path", _ELD_20),
    "sdf-0": _matches("name", _COMPUTABLE_NAME),
    "vsd-0": _matches("name", _COMPUTABLE_NAME),
    "sdf-1": _snapshot_paths_distinct,
    "sdf-8b": _elements_based,
    "sdf-14": _element_ids,
    "sdf-22": _core_without_defaults,
    "sdf-5": _extension_context,
    "sdf-11": _snapshot_starts_at_type,
    "sdf-15": _first_untyped("snapshot", at_root=False),
    "sdf-15a": _first_untyped("differential", at_root=True),
    "sdf-20": _root_not_sliced_in,
    "sdf-21": _defaults_in_specialization,
    "eld-12": _value_set_url,
    "eld-17": _target_profile_on_reference,
}

# As PYTHON, for invariants that read %resource as well: (focus, %resource).
PYTHON_IN_RESOURCE: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[bool] | None]] = {
    "sdf-8": _snapshot_under_type,
    "sdf-8a": _differential_under_type,
}

UCUM = "http://unitsofmeasure.org"

# Invariants of the R4 core that run as warnings, with why; listed at start-up. A known deviation
# of the LUS messages this adapter renders, to be fixed in their mapping, never a silent skip.
_NO_END = (
    "the LUS kallelse-sip, planeringsmöte bokat and ombokat messages may carry an Appointment.start"
    " without an end (the domain events' end is optional)"
)
AS_WARNING: dict[str, str] = {
    "app-2": f"{_NO_END}; R4 wants both or neither",
    "app-3": f"{_NO_END}; R4 wants both unless proposed, cancelled or waitlisted",
}


_OPERAND = re.compile(r"^\(?\s*([a-z][A-Za-z0-9]*)\.(exists|empty)\(\)\s*\)?$")


def sufficient_keys(
    expression: str, choices: frozenset[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(present, absent, absent choices): keys whose presence, or absence, alone makes an `or` of
    `x.exists()` and `y.empty()` operands (or one alone) true (bdl-5 `resource.exists() or
    request.exists() or …`, cpl-3 `detail.empty() or reference.empty()`), so that it need not be
    evaluated. A choice name
    (eld-6 `fixed.empty() or …`) has many keys: absent when no key starts with it (or with `_` and
    it); its presence is left to the expression."""
    parts = _split_or(expression)
    if parts is None:
        return (), (), ()
    present: list[str] = []
    absent: list[str] = []
    absent_choices: list[str] = []
    for part in parts:
        m = _OPERAND.match(part.strip())
        if m is None:
            continue
        if m[1] in choices:
            if m[2] == "empty":
                absent_choices.append(m[1])
            continue
        (present if m[2] == "exists" else absent).append(m[1])
    return tuple(present), tuple(absent), tuple(absent_choices)


def _split_or(expression: str) -> list[str] | None:
    """The operands of a top-level `or` chain (the expression alone when it has none: eld-21
    `expression.exists()`), or None if the top level has another operator."""
    parts, depth, start, i = [], 0, 0, 0
    text = expression
    while i < len(text):
        ch = text[i]
        if ch == "'":
            i = text.index("'", i + 1) if "'" in text[i + 1 :] else len(text)
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and re.match(r"\s(or|and|xor|implies)\s", text[i:]):
            word = re.match(r"\s(or|and|xor|implies)\s", text[i:])
            assert word is not None
            if word[1] != "or":
                return None
            parts.append(text[start:i])
            start = i + len(word[0])
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return parts
