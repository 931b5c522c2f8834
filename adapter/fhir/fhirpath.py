"""FHIRPath compiled to Python closures over plain dicts, with fhirpathpy as fallback.

Nearly every mapping rule, and many profile invariants, is a simple path — `period.start`,
`identifier.where(system in %hsa_id).value`, `extension.where(url = %x).value.code` — and
fhirpathpy interprets its parse tree and wraps every node on each call: half the ingest time.
This module compiles the subset such rules, and most R4 core invariants, use (member paths with
choice types, `where`, `select`, `all`, `exists`, `empty`, `skip`, `first`, `tail`, `not`,
`count`, `hasValue`, `isDistinct`, `toInteger`, `trace`, `iif`, `children`, `contains`,
`startsWith`, `endsWith`, `substring`, `intersect(%variable path)`, `extension(url)`, `matches`,
`replaceMatches`, `=`, `!=`, `<`, `<=`, `>`, `>=` on integers, `in`, `|`, `&`, `+` on integers
and strings, `and`, `or`, `xor`, `implies`, `$this`, %variables, string and integer literals)
into closures; anything else returns fhirpathpy's own compiled function, so every expression still
works. Tests check both agree on every expression in mappings/, every invariant in profiles/ and
the R4 core invariants on the conformance files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

Compiled = Callable[..., list[Any]]
Node = Callable[[list[Any], dict[str, Any]], list[Any]]

_TOKEN = re.compile(r"\s*(?:([%$]?[A-Za-z_][A-Za-z0-9_]*)|('(?:[^'\\]|\\.)*')|(\d+)|(!=|<=|>=|[.()=|,<>&+]))")


class _Unsupported(Exception):
    """An expression outside the compiled subset: fhirpathpy evaluates it."""


class _EvaluationFallback(Exception):
    """Data outside the subset's semantics: fhirpathpy evaluates this call."""


def _has_value(inputs: list[Any]) -> list[bool]:
    """FHIRPath hasValue(): a single primitive with a value (fhirpathpy 2.2 lacks it)."""
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)]


# trace() logs to stdout in fhirpathpy: the R4 invariants use it for debugging only
_OPTIONS = {
    "traceFn": lambda *_: None,
    "userInvocationTable": {"hasValue": {"fn": _has_value, "arity": {0: []}}},
}


def compile_expression(expression: str, *, fast: bool = True) -> Compiled:
    """A function (resource, variables) -> list, as `fhirpathpy.compile` gives, fast when simple.
    The one way the adapter compiles FHIRPath; fast=False gives fhirpathpy's function alone, for
    variables that are objects rather than JSON (a dialect's %case)."""
    general: Compiled = fhirpathpy.compile(expression, model=models["r4"], options=_OPTIONS)
    if not fast:
        return general
    try:
        node = _Parser(expression).parse()
    except _Unsupported:
        return general

    def evaluate(
        resource: Any, variables: dict[str, Any] | None = None, type_name: str | None = None
    ) -> list[Any]:
        data = resource.data if isinstance(resource, ResourceNode) else resource  # typed for fhirpathpy
        try:
            return node([data], variables or {})
        except _EvaluationFallback:  # data outside the subset's semantics, e.g. comparing decimals
            if type_name is not None and isinstance(resource, dict) and "resourceType" not in resource:
                resource = ResourceNode.create_node(resource, type_name)  # so that value is valueCoding
            return general(resource, variables or {})

    evaluate.fast = True  # type: ignore[attr-defined]  # takes plain dicts and the type's name
    return evaluate


@cache
def _choice_suffixes() -> dict[str, tuple[str, ...]]:
    """Element name → type suffixes of choice elements of that name, e.g. value → (Code, String, …)."""
    suffixes: dict[str, list[str]] = {}
    for path, types in models["r4"]["choiceTypePaths"].items():
        known = suffixes.setdefault(path.rsplit(".", 1)[-1], [])
        known += [t for t in types if t not in known]
    return {name: tuple(types) for name, types in suffixes.items()}


def choice_names() -> frozenset[str]:
    """Names that are choice elements somewhere in R4 (value, onset, …): many JSON keys each."""
    return frozenset(_choice_suffixes())


def choice_keys(name: str) -> frozenset[str]:
    """The typed JSON keys of a choice element of this name (defaultValue: defaultValueString, …);
    empty for any other name."""
    return frozenset(name + t for t in _choice_suffixes().get(name, ()))


def _member(name: str) -> Node:
    # a choice name has dozens of typed keys (fixedString, fixedCode, …): look the object's few
    # keys up among them rather than each of them in the object
    choices = choice_keys(name)

    def member(items: list[Any], _: dict[str, Any]) -> list[Any]:
        if len(items) == 1 and isinstance(items[0], dict):  # most paths: one object, a plain key
            value = items[0].get(name)
            if value is None:
                if not choices:
                    return []
            elif type(value) is not list:
                return [value]
            elif None not in value:
                return list(value)
        out: list[Any] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            value = item.get(name)
            if value is None:
                if not choices:
                    continue
                for key in item:
                    if key in choices and item[key] is not None:
                        value = item[key]
                        break
                else:
                    continue
            if isinstance(value, list):
                out += [v for v in value if v is not None]
            else:
                out.append(value)
        return out

    return member


_ESCAPES = {"f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(body: str) -> str:
    """A FHIRPath string literal's escapes (backslash, quotes, slash, f n r t); a unicode escape
    goes to fhirpathpy."""
    if "\\u" in body:
        raise _Unsupported(body)
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), body, flags=re.DOTALL)


def _then(first: Node, second: Node) -> Node:
    return lambda items, env: second(first(items, env), env)


def _variable(name: str) -> Node:
    def variable(_: list[Any], env: dict[str, Any]) -> list[Any]:
        if name not in env:
            raise ValueError(f"undefined variable %{name}")
        value = env[name]
        return list(value) if isinstance(value, list | tuple) else [value]

    return variable


def _is_true(result: list[Any]) -> bool:
    return result == [True]


def _function(name: str, args: list[Node]) -> Node:
    if name == "where" and len(args) == 1:
        criterion = args[0]
        return lambda items, env: [x for x in items if _is_true(criterion([x], env))]
    if name == "all" and len(args) == 1:
        criterion = args[0]
        return lambda items, env: [all(_is_true(criterion([x], env)) for x in items)]
    if name == "extension" and len(args) == 1:
        return _extension(args[0])
    if name == "matches" and len(args) == 1:
        return _matches(args[0])
    if name == "exists" and not args:
        return lambda items, _: [bool(items)]
    if name == "empty" and not args:
        return lambda items, _: [not items]
    if name == "first" and not args:
        return lambda items, _: items[:1]
    if name == "select" and len(args) == 1:
        projection = args[0]
        return lambda items, env: [y for x in items for y in projection([x], env)]
    if name == "trace" and args:
        return lambda items, _: items  # logging only
    if name == "tail" and not args:
        return lambda items, _: items[1:]
    if name == "isDistinct" and not args:
        return _is_distinct
    if name == "toInteger" and not args:
        return _to_integer
    if name == "children" and not args:
        return _children
    if name == "iif" and len(args) in (2, 3):
        return _iif(*args)
    if name == "not" and not args:
        return lambda items, _: [not flag] if (flag := _boolean(items)) is not None else []
    if name == "count" and not args:
        return lambda items, _: [len(items)]
    if name == "hasValue" and not args:
        return lambda items, _: [len(items) == 1 and not isinstance(items[0], dict | list)]
    if name in ("contains", "startsWith", "endsWith") and len(args) == 1:
        return _string_test(name, args[0])
    if name == "replaceMatches" and len(args) == 2:
        return _replace_matches(*args)
    if name == "substring" and len(args) in (1, 2):
        return _substring(*args)
    if name == "skip" and len(args) == 1:
        count = args[0]
        return lambda items, env: items[_integer(count(items, env)) :]
    raise _Unsupported(name)


def _extension(url: Node) -> Node:
    def extension(items: list[Any], env: dict[str, Any]) -> list[Any]:
        wanted = _string(url(items, env))
        out: list[Any] = []
        for item in items:
            if not isinstance(item, dict):
                raise _EvaluationFallback  # a primitive's extensions live beside it, in "_name"
            found = [e for e in item.get("extension") or () if isinstance(e, dict) and e.get("url") == wanted]
            if len(found) > 1:
                # fhirpathpy keeps the first of each element where the specification keeps all;
                # such data breaks the extension's cardinality anyway: let fhirpathpy answer as before.
                raise _EvaluationFallback
            out += found
        return out

    return extension


def _is_distinct(items: list[Any], _: dict[str, Any]) -> list[Any]:
    if any(isinstance(x, dict | list | float) for x in items):
        raise _EvaluationFallback  # structural or decimal equality
    return [len({(type(x), x) for x in items}) == len(items)]


def _children(items: list[Any], _: dict[str, Any]) -> list[Any]:
    """The child elements of each object ("_name" keys belong to their primitive's node)."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "resourceType" or key[:1] == "_" or value is None:
                    continue
                if isinstance(value, list):
                    out += [v for v in value if v is not None]
                else:
                    out.append(value)
    return out


def _iif(criterion: Node, then: Node, otherwise: Node | None = None) -> Node:
    def iif(items: list[Any], env: dict[str, Any]) -> list[Any]:
        if _boolean(criterion(items, env)):
            return then(items, env)
        return otherwise(items, env) if otherwise is not None else []

    return iif


def _to_integer(items: list[Any], _: dict[str, Any]) -> list[Any]:
    if not items:
        return []
    if len(items) != 1:
        raise _EvaluationFallback
    value = items[0]
    if type(value) is int:
        return [value]
    if type(value) is str and re.fullmatch(r"[+-]?\d+", value):
        return [int(value)]
    if type(value) is str:
        return []  # not convertible: empty, as FHIRPath says
    raise _EvaluationFallback


def _order(op: str, left: Node, right: Node) -> Node:
    """<, <=, >, >= on integers (anything else, dates above all, is fhirpathpy's)."""

    def order(items: list[Any], env: dict[str, Any]) -> list[Any]:
        a, b = left(items, env), right(items, env)
        if not a or not b:
            return []
        if len(a) != 1 or len(b) != 1 or type(a[0]) is not int or type(b[0]) is not int:
            raise _EvaluationFallback
        x, y = a[0], b[0]
        return [x < y if op == "<" else x <= y if op == "<=" else x > y if op == ">" else x >= y]

    return order


def _string_test(name: str, argument: Node) -> Node:
    """contains / startsWith / endsWith on one string."""
    test = {"contains": str.__contains__, "startsWith": str.startswith, "endsWith": str.endswith}[name]

    def string_test(items: list[Any], env: dict[str, Any]) -> list[Any]:
        if not items:
            return []
        if len(items) != 1 or not isinstance(items[0], str):
            raise _EvaluationFallback
        return [test(items[0], _string(argument(items, env)))]

    return string_test


def _matches(pattern: Node) -> Node:
    def matches(items: list[Any], env: dict[str, Any]) -> list[Any]:
        regex = _string(pattern(items, env))
        if not items or not regex:
            return []
        if len(items) != 1 or not isinstance(items[0], str):
            raise _EvaluationFallback  # not a single string: fhirpathpy says what that means
        return [_regex(regex).search(items[0]) is not None]

    return matches


def _replace_matches(regex: Node, substitution: Node) -> Node:
    """replaceMatches(regex, substitution) on one string, as fhirpathpy does it (every match
    replaced); a substitution with group references ($1) or backslashes is fhirpathpy's."""

    def replace_matches(items: list[Any], env: dict[str, Any]) -> list[Any]:
        if not items:
            return []
        pattern, replacement = _string(regex(items, env)), _string(substitution(items, env))
        if len(items) != 1 or not isinstance(items[0], str) or "$" in replacement or "\\" in replacement:
            raise _EvaluationFallback
        return [_plain_regex(pattern).sub(replacement, items[0])]

    return replace_matches


def _substring(start: Node, length: Node | None = None) -> Node:
    """substring(start [, length]) on one string: empty when start is outside it (ref-1's
    `reference.substring(1)`)."""

    def substring(items: list[Any], env: dict[str, Any]) -> list[Any]:
        if not items:
            return []
        if len(items) != 1 or not isinstance(items[0], str):
            raise _EvaluationFallback
        text, first = items[0], _integer(start(items, env))
        if first < 0 or first >= len(text):
            return []
        if length is None:
            return [text[first:]]
        return [text[first : first + _integer(length(items, env))]]

    return substring


def _intersect(other: Node) -> Node:
    """intersect(): the items also in `other`, once each; objects equal when their JSON is
    (obs-7 compares Codings), as in fhirpathpy. Decimals are fhirpathpy's."""

    def intersect(items: list[Any], env: dict[str, Any]) -> list[Any]:
        others = other(items, env)
        if any(isinstance(v, float) for v in items + others):
            raise _EvaluationFallback
        out: list[Any] = []
        for item in items:
            if item in others and item not in out:
                out.append(item)
        return out

    return intersect


@cache
def _plain_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.DOTALL)


def _string(value: list[Any]) -> str:
    if len(value) != 1 or not isinstance(value[0], str):
        raise _EvaluationFallback
    return value[0]


def _integer(value: list[Any]) -> int:
    if len(value) != 1 or not isinstance(value[0], int):
        raise ValueError("skip() and substring() take one integer")
    return value[0]


def _compare(op: str, left: Node, right: Node) -> Node:
    def compare(items: list[Any], env: dict[str, Any]) -> list[Any]:
        a, b = left(items, env), right(items, env)
        if op == "in":
            if len(a) > 1:
                raise ValueError("'in' takes a single item on its left")
            return [a[0] in b] if a else []
        if not a or not b:
            return []
        if any(isinstance(v, dict | float) for v in a + b):
            raise _EvaluationFallback  # structural or decimal equality
        return [(a == b) == (op == "=")]

    return compare


def _logic(op: str, left: Node, right: Node) -> Node:
    """and, or, xor, implies; the right operand is not evaluated when the left one decides (as
    FHIRPath allows): `min.empty() or …` costs one look on most ElementDefinitions."""
    deciding = {"and": False, "or": True, "implies": False}.get(op)

    def logic(items: list[Any], env: dict[str, Any]) -> list[Any]:
        a = _boolean(left(items, env))
        if a is not None and a is deciding:
            return [op != "and"]
        b = _boolean(right(items, env))
        if op == "implies":
            if b is True:
                return [True]
            return [False] if a is True and b is False else []
        if op == "xor":
            return [] if a is None or b is None else [a != b]
        if op == "and":
            if b is False:
                return [False]
            return [True] if a and b else []
        if b is True:
            return [True]
        return [False] if a is False and b is False else []

    return logic


def _boolean(value: list[Any]) -> bool | None:
    if not value:
        return None
    if len(value) == 1 and isinstance(value[0], bool):
        return value[0]
    raise _EvaluationFallback  # singleton evaluation of non-booleans


def _add(op: str, left: Node, right: Node) -> Node:
    """`&` joins strings (empty as ''); `+` adds integers or joins strings (empty if either is)."""

    def add(items: list[Any], env: dict[str, Any]) -> list[Any]:
        a, b = left(items, env), right(items, env)
        if len(a) > 1 or len(b) > 1:
            raise _EvaluationFallback
        if op == "&":
            if any(type(v) is not str for v in a + b):
                raise _EvaluationFallback
            return [(a[0] if a else "") + (b[0] if b else "")]
        if not a or not b:
            return []
        x, y = a[0], b[0]
        if type(x) is type(y) and type(x) in (int, str):
            return [x + y]
        raise _EvaluationFallback

    return add


def _union(left: Node, right: Node) -> Node:
    def union(items: list[Any], env: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for value in left(items, env) + right(items, env):
            if value not in out:
                out.append(value)
        return out

    return union


_LOGIC = ("implies", "or", "and")  # by FHIRPath precedence, loosest first


class _Parser:
    def __init__(self, expression: str) -> None:
        self.tokens: list[str] = []
        position, text = 0, expression.rstrip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                raise _Unsupported(text[position:])
            self.tokens.append(match.group().strip())
            position = match.end()
        self.at = 0

    def parse(self) -> Node:
        node = self.expression()
        if self.at != len(self.tokens):
            raise _Unsupported(self.tokens[self.at])
        return node

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _Unsupported(f"expected {expected}, found {token}")
        self.at += 1
        return token

    def expression(self, level: int = 0) -> Node:
        """Boolean operators, left-associative, from the loosest binding (_LOGIC) inwards."""
        if level == len(_LOGIC):
            return self.comparison()
        ops = ("or", "xor") if _LOGIC[level] == "or" else (_LOGIC[level],)
        node = self.expression(level + 1)
        while self.peek() in ops:
            op = self.take()
            node = _logic(op, node, self.expression(level + 1))
        return node

    def comparison(self) -> Node:
        node = self.inequality()
        if self.peek() in ("=", "!=", "in"):
            op = self.take()
            node = _compare(op, node, self.inequality())
        return node

    def inequality(self) -> Node:
        node = self.union()
        if self.peek() in ("<", "<=", ">", ">="):
            op = self.take()
            node = _order(op, node, self.union())
        return node

    def union(self) -> Node:
        node = self.additive()
        while self.peek() == "|":
            self.take()
            node = _union(node, self.additive())
        return node

    def additive(self) -> Node:
        node = self.term()
        while self.peek() in ("&", "+"):
            op = self.take()
            node = _add(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.primary()
        while self.peek() == ".":
            self.take()
            node = _then(node, self.invocation())
        return node

    def primary(self) -> Node:
        token = self.peek()
        if token is None:
            raise _Unsupported("end of expression")
        if token == "(":
            self.take()
            node = self.expression()
            self.take(")")
            return node
        if token == "$this":
            self.take()
            return lambda items, _env: items
        if token.startswith("%"):
            self.take()
            return _variable(token[1:])
        if token.startswith("'"):
            self.take()
            literal = _unescape(token[1:-1])
            return lambda _items, _env: [literal]
        if token.isdigit():
            self.take()
            number = int(token)
            return lambda _items, _env: [number]
        if token[0].isupper():
            raise _Unsupported(token)  # a type name (`Patient.name`) filters: fhirpathpy's job
        return self.invocation()

    def invocation(self) -> Node:
        name = self.take()
        if not re.fullmatch(r"[a-z][A-Za-z0-9_]*", name) or name in (
            "and",
            "or",
            "in",
            "implies",
            "xor",
            "div",
            "mod",
            "is",
            "as",
        ):
            raise _Unsupported(name)
        if self.peek() != "(":
            return _member(name)
        self.take("(")
        if name == "intersect":
            # its argument is evaluated from $this (fhirpathpy's AnyAtRoot), not from the input
            # collection as here: only a path from a %variable means the same in both
            if not (self.peek() or "").startswith("%"):
                raise _Unsupported(name)
            other = self.term()
            self.take(")")
            return _intersect(other)
        args: list[Node] = []
        while self.peek() != ")":
            args.append(self.expression())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return _function(name, args)


def _compile_fast(expression: str) -> Compiled:
    """The compiled closure alone (for tests): raises _Unsupported outside the subset."""
    node = _Parser(expression).parse()
    general = fhirpathpy.compile(expression, model=models["r4"], options=_OPTIONS)

    def evaluate(resource: Any, variables: dict[str, Any] | None = None) -> list[Any]:
        try:
            return node([resource], variables or {})
        except _EvaluationFallback:
            return list(general(resource, variables or {}))

    return evaluate
