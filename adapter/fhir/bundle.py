"""Resolving references inside a Bundle: by fullUrl, by Type/id, and by urn:uuid."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    resource: dict[str, Any]

    @property
    def path(self) -> str:
        return f"Bundle.entry[{self.index}].resource"


class BundleIndex:
    """All resources of a Bundle, addressable the ways a reference may name them."""

    def __init__(self, bundle: dict[str, Any]) -> None:
        self.bundle = bundle
        self.entries: list[Entry] = []
        self.full_urls: list[Any] = []  # each entry's fullUrl, None where it has none
        self._type_ids: list[str] = []  # each resource's Type/id
        self._by_ref: dict[str, Entry] = {}
        self._targets: dict[int, list[int]] | None = None
        entries = bundle.get("entry")
        for i, raw in enumerate(entries if isinstance(entries, list) else []):
            full_url = raw.get("fullUrl") if isinstance(raw, dict) else None
            self.full_urls.append(full_url)
            resource = raw.get("resource") if isinstance(raw, dict) else None
            if not isinstance(resource, dict):
                continue
            entry = Entry(i, resource)
            self.entries.append(entry)
            if isinstance(full_url, str):
                self._by_ref[full_url] = entry
            rtype, rid = resource.get("resourceType"), resource.get("id")
            if isinstance(rtype, str) and isinstance(rid, str):
                key = f"{rtype}/{rid}"
                self._type_ids.append(key)
                self._by_ref.setdefault(key, entry)

    @property
    def repeated(self) -> bool:
        """A fullUrl, or a resource's Type/id, given by two entries: a reference to it is ambiguous."""
        urls = [url for url in self.full_urls if type(url) is str]
        return len(set(urls)) < len(urls) or len(set(self._type_ids)) < len(self._type_ids)

    def resolve(self, reference: Any) -> Entry | None:
        """The entry a Reference (dict) or reference string points to, if it is in the Bundle."""
        ref = reference.get("reference") if isinstance(reference, dict) else reference
        if not isinstance(ref, str):
            return None
        entry = self._by_ref.get(ref)
        if entry is None and "/" in ref:
            # An absolute URL whose tail is Type/id.
            parts = ref.rstrip("/").split("/")
            entry = self._by_ref.get("/".join(parts[-2:]))
        return entry

    def targets(self) -> dict[int, list[int]]:
        """Entry index → the entries that entry's references resolve to, from any depth (its
        contained resources' too). One walk per message, shared by the reference-cycle check and
        the unreferenced-entry warnings."""
        if self._targets is None:
            self._targets = {e.index: self._resolved_in(e.resource) for e in self.entries}
        return self._targets

    def _resolved_in(self, resource: dict[str, Any]) -> list[int]:
        found: list[int] = []
        level: list[Any] = [resource]
        while level:  # a level at a time and no paths: this runs for every entry of every message
            deeper: list[Any] = []
            for value in level:
                if type(value) is dict:
                    ref = value.get("reference")
                    if type(ref) is str:
                        entry = self.resolve(ref)
                        if entry is not None:
                            found.append(entry.index)
                    deeper += value.values()
                elif type(value) is list:
                    deeper += value
            level = deeper
        return found

    def of_type(self, resource_type: str) -> Iterator[Entry]:
        return (e for e in self.entries if e.resource.get("resourceType") == resource_type)

    @property
    def header(self) -> Entry | None:
        first = self.entries[0] if self.entries else None
        if first and first.index == 0 and first.resource.get("resourceType") == "MessageHeader":
            return first
        return None
