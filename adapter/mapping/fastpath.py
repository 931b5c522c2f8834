"""Rule expressions compiled to plain Python over dicts, where the expression is a simple path.

Mapping rules are FHIRPath. Interpreting them with fhirpathpy per message was half the ingest
time, yet almost every rule is a path with `where` filters: `period.start`,
`identifier.where(system in %hsa_id).value`, `extension.where(url = %x).value`,
`name.where(use = 'official' or use.empty()).family`. Those compile here to closures over the
JSON dicts; anything else (functions, arithmetic, types) goes to fhirpathpy unchanged. The
closures give exactly fhirpathpy's result (tests/test_fastpath.py compares both on every rule).

Subset: expr := step ('.' step)*; step := name | 'where(' cond ')'; cond := term ('or' term)*;
term := expr '=' operand | expr 'in' set | expr '.empty()'; operand := 'literal' | %var;
set := %var | '(' %var ('|' %var)* ')'.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import fhirpathpy
from fhirpathpy.models import models

Evaluate = Callable[[Any, dict[str, Any]], list[Any]]
Step = Callable[[list[Any], dict[str, Any]], list[Any]]

_TOKEN = re.compile(r"\s*(?:(%?[A-Za-z_][A-Za-z0-9_]*)|('(?:[^'\\]|\\.)*')|(\.empty\(\))|([.()=|]))")


class _Unsupported(Exception):
    """Outside the subset: fhirpathpy evaluates it."""


def compile_expression(expression: str) -> Evaluate:
    """`(resource, variables) → collection`, as fhirpathpy would evaluate `expression`.
    Raises what fhirpathpy.compile raises for an expression it cannot parse."""
    try:
        return _compile_fast(expression)
    except _Unsupported:
        slow = fhirpathpy.compile(expression, model=models["r4"])
        return lambda resource, env: list(slow(resource, env))


def _compile_fast(expression: str) -> Evaluate:
    tokens = _tokenize(expression)
    steps, rest = _path(tokens)
    if rest:
        raise _Unsupported(expression)

    def evaluate(resource: Any, env: dict[str, Any]) -> list[Any]:
        items = [resource] if resource is not None else []
        for step in steps:
            items = step(items, env)
        return items

    return evaluate


def _tokenize(expression: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(expression):
        match = _TOKEN.match(expression, pos)
        if match is None or match.end() == pos:
            if expression[pos:].strip() == "":
                break
            raise _Unsupported(expression)
        tokens.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
    return tokens


def _path(tokens: list[str]) -> tuple[list[Step], list[str]]:
    steps: list[Step] = []
    while True:
        if not tokens or not _is_name(tokens[0]):
            raise _Unsupported(tokens)
        name, tokens = tokens[0], tokens[1:]
        if name == "where":
            if not tokens or tokens[0] != "(":
                raise _Unsupported(tokens)
            cond, tokens = _condition(tokens[1:])
            if not tokens or tokens[0] != ")":
                raise _Unsupported(tokens)
            tokens = tokens[1:]
            steps.append(_where(cond))
        elif name in _RESERVED:
            raise _Unsupported(name)
        else:
            steps.append(_child(name))
        if tokens and tokens[0] == ".":
            tokens = tokens[1:]
            continue
        return steps, tokens


_RESERVED = {"or", "and", "in", "xor", "implies", "is", "as", "div", "mod", "contains", "true", "false"}
Condition = Callable[[Any, dict[str, Any]], bool]


def _is_name(token: str) -> bool:
    return token[0].isalpha() or token[0] == "_"


def _condition(tokens: list[str]) -> tuple[Condition, list[str]]:
    terms: list[Condition] = []
    while True:
        term, tokens = _term(tokens)
        terms.append(term)
        if tokens and tokens[0] == "or":
            tokens = tokens[1:]
            continue
        break
    if len(terms) == 1:
        return terms[0], tokens
    return (lambda item, env: any(t(item, env) for t in terms)), tokens


def _term(tokens: list[str]) -> tuple[Condition, list[str]]:
    steps, tokens = _path(tokens)
    left = _run(steps)
    if tokens and tokens[0] == ".empty()":
        return (lambda item, env: not left(item, env)), tokens[1:]
    if not tokens:
        raise _Unsupported(tokens)
    op, tokens = tokens[0], tokens[1:]
    if op == "=":
        right, tokens = _operand(tokens)
        return (lambda item, env: _equal(left(item, env), right(env))), tokens
    if op == "in":
        members, tokens = _set(tokens)

        def contained(item: Any, env: dict[str, Any]) -> bool:
            value = left(item, env)
            if len(value) > 1:
                raise TypeError(f"'in' needs one item on its left, found {len(value)}")
            return bool(value) and value[0] in members(env)

        return contained, tokens
    raise _Unsupported(op)


def _operand(tokens: list[str]) -> tuple[Callable[[dict[str, Any]], list[Any]], list[str]]:
    if not tokens:
        raise _Unsupported(tokens)
    token = tokens[0]
    if token.startswith("'"):
        literal = [_unquote(token)]
        return (lambda env: literal), tokens[1:]
    if token.startswith("%"):
        name = token[1:]
        return (lambda env: _collection(env[name])), tokens[1:]
    raise _Unsupported(token)


def _set(tokens: list[str]) -> tuple[Callable[[dict[str, Any]], list[Any]], list[str]]:
    if tokens and tokens[0].startswith("%"):
        return _operand(tokens)
    if not tokens or tokens[0] != "(":
        raise _Unsupported(tokens)
    parts: list[Callable[[dict[str, Any]], list[Any]]] = []
    tokens = tokens[1:]
    while True:
        if not tokens or not tokens[0].startswith("%"):
            raise _Unsupported(tokens)
        part, tokens = _operand(tokens)
        parts.append(part)
        if tokens and tokens[0] == "|":
            tokens = tokens[1:]
            continue
        if tokens and tokens[0] == ")":
            break
        raise _Unsupported(tokens)

    def union(env: dict[str, Any]) -> list[Any]:
        members: list[Any] = []
        for part in parts:
            members += [m for m in part(env) if m not in members]  # `|` removes duplicates
        return members

    return union, tokens[1:]


def _unquote(token: str) -> str:
    if "\\" in token:
        raise _Unsupported(token)  # escapes: fhirpathpy's rules
    return token[1:-1]


def _collection(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _equal(left: list[Any], right: list[Any]) -> bool:
    """FHIRPath `=`: empty when either side is empty (not true), else item by item."""
    if not left or not right or len(left) != len(right):
        return False
    return all(type(a) is type(b) and a == b for a, b in zip(left, right, strict=True))


def _run(steps: list[Step]) -> Callable[[Any, dict[str, Any]], list[Any]]:
    def run(item: Any, env: dict[str, Any]) -> list[Any]:
        items = [item]
        for step in steps:
            items = step(items, env)
        return items

    return run


def _child(name: str) -> Step:
    """`.name`: the element, or a choice element `name[x]` (valueString, valueCoding, …)."""
    prefix = len(name)

    def child(items: list[Any], env: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            value = item.get(name)
            if value is None:
                for key, candidate in item.items():
                    if len(key) > prefix and key.startswith(name) and key[prefix].isupper():
                        value = candidate
                        break
            if value is None:
                continue
            if isinstance(value, list):
                out += [v for v in value if v is not None]
            else:
                out.append(value)
        return out

    return child


def _where(condition: Condition) -> Step:
    return lambda items, env: [item for item in items if condition(item, env)]
