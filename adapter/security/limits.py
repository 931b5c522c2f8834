"""Hostile input: limits on the shape of a JSON body, checked right after parsing and before
anything walks it (validation, FHIRPath, mapping recurse; a store column has a width)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from adapter.fhir.issues import Issue

# C0 control characters but tab, line feed and carriage return, and DEL: FHIR strings may not hold
# them, and PostgreSQL text cannot hold NUL at all. In a JSON body they can only come escaped.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ESCAPED_CONTROL = re.compile(rb"\\u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF])|\x7f")


@dataclass(frozen=True)
class JsonLimits:
    max_depth: int = 64
    max_items: int = 1000  # elements of any one array (a LUS message has a handful of entries)
    max_string: int = 100_000  # characters of any one string
    max_keys: int = 200  # members of any one object (the largest FHIR type has fewer elements)
    max_members: int = 50_000  # members of all objects of a body (a 1000-entry message has 13 000)
    max_key: int = 100  # characters of a member's name

    def prescreen(self, raw: bytes, root: str = "Bundle") -> Issue | None:
        """Before parsing: a body whose members are too many to be worth parsing (300 000 cost a
        quarter of a second of the CPU, a lock every other request waits on). Every member has a
        colon, so a body with few colons is let through at once; else its `":` pairs, the members
        of compact JSON (and any in its strings), are counted. Members spaced from their colon
        are counted after parsing instead (`check`)."""
        if raw.count(b":") <= self.max_members:
            return None
        members = raw.count(b'":')
        if members <= self.max_members:
            return None
        return _too_costly(
            f"{members} members in the body (counted before parsing); at most {self.max_members}.",
            root,
        )

    def check(self, data: Any, root: str = "Bundle", raw: bytes | None = None) -> Issue | None:
        """The first limit `data` breaks, with the FHIRPath of where, or None. With `raw`, the body
        `data` was parsed from, control characters are looked for only where it has an escaped one."""
        # the regex only where a byte search finds a start of one (a scan of every byte, else)
        controls = raw is None or (
            (b"\\u00" in raw or b"\x7f" in raw) and _ESCAPED_CONTROL.search(raw) is not None
        )
        if self._within(data) and not (controls and self._has_control(data)):
            return None
        return self._locate(data, root)

    def _within(self, data: Any) -> bool:
        """Whether `data` keeps every limit: one pass, a level at a time, no paths built (the
        common case; where it fails, _locate walks again to say where). Member names are counted
        and measured a level at a time: no work per object beyond gathering them."""
        level, depth, members = [data], 1, 0
        while level:
            deeper: list[Any] = []
            names: list[str] = []
            for value in level:
                kind = type(value)
                if kind is dict:
                    if len(value) > self.max_keys:
                        return False
                    names += value
                    deeper += value.values()
                elif kind is list:
                    if len(value) > self.max_items:
                        return False
                    deeper += value
                elif kind is str and len(value) > self.max_string:
                    return False
            members += len(names)
            if names and max(map(len, names)) > self.max_key:
                return False
            if (deeper and depth >= self.max_depth) or members > self.max_members:
                return False
            level, depth = deeper, depth + 1
        return True

    @staticmethod
    def _has_control(data: Any) -> bool:
        stack = [data]
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                if any(CONTROL_CHARACTERS.search(k) for k in value):
                    return True
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
            elif isinstance(value, str) and CONTROL_CHARACTERS.search(value):
                return True
        return False

    def _locate(self, data: Any, root: str) -> Issue | None:
        stack: list[tuple[Any, int, str]] = [(data, 1, root)]
        members = 0
        while stack:
            value, depth, path = stack.pop()
            if isinstance(value, dict):
                if len(value) > self.max_keys:
                    return _too_costly(f"{len(value)} members in one object; at most {self.max_keys}.", path)
                members += len(value)
                if members > self.max_members:
                    return _too_costly(f"More than {self.max_members} members in the body.", path)
                for key in value:
                    if len(key) > self.max_key:
                        return _too_costly(
                            f"A member name of {len(key)} characters; at most {self.max_key}.", path
                        )
                    if CONTROL_CHARACTERS.search(key):
                        return _control_character(key, path)
                children = [(v, f"{path}.{k}") for k, v in value.items()]
            elif isinstance(value, list):
                if len(value) > self.max_items:
                    return _too_costly(f"{len(value)} elements in one array; at most {self.max_items}.", path)
                children = [(v, f"{path}[{i}]") for i, v in enumerate(value)]
            else:
                if isinstance(value, str):
                    if len(value) > self.max_string:
                        return _too_costly(
                            f"A string of {len(value)} characters; at most {self.max_string}.", path
                        )
                    if CONTROL_CHARACTERS.search(value):
                        return _control_character(value, path)
                continue
            if children and depth >= self.max_depth:
                return _too_costly(f"JSON nested deeper than {self.max_depth} levels.", path)
            stack.extend((v, depth + 1, p) for v, p in children)
        return None


def _control_character(text: str, path: str) -> Issue:
    found = CONTROL_CHARACTERS.search(text)
    assert found is not None
    return Issue(
        "error",
        "invalid",
        f"A control character (U+{ord(found.group()):04X}) at position {found.start()}: FHIR strings and"
        " names may hold no control characters but tab, line feed and carriage return.",
        path,
        "control-character",
    )


def _too_costly(message: str, path: str) -> Issue:
    return Issue("error", "too-costly", message, path, "input-limit")
