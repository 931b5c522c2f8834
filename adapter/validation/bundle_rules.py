"""The R4 Bundle rules beyond its invariants (bdl-1…bdl-12 run as invariants): every fullUrl is
absolute or a urn:uuid:/urn:oid:, and references inside a Bundle resolve to one entry — never two;
in a document, to an entry that is there at all, a versioned one (Type/id/_history/v) to the entry
with that meta.versionId (R4 2.36.4 "Resolving references in Bundles"). A link relation (self,
next, first …) names one URL, so it occurs at most once in Bundle.link (as the HL7 validator
holds: a second `self` leaves the reader two answers)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from adapter.fhir.bundle import BundleIndex
from adapter.validation.checkers import Where

if TYPE_CHECKING:
    from adapter.validation.context import Context

_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")  # a scheme: http(s)://, urn:uuid:, urn:oid:…
_RELATIVE = re.compile(
    r"^(?:(.*/))?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?$"
)
# what nearly every fullUrl starts with, told at once (whitespace after it is the uri type's error)
_COMMON = ("urn:uuid:", "urn:oid:", "http://", "https://")
# bundles that must carry what they refer to (a message: ReferenceTarget says so per element)
_CLOSED = frozenset({"document"})


class BundleRules:
    __slots__ = ("where",)

    def __init__(self, where: Where) -> None:
        self.where = where

    def check(self, bundle: Any, path: str, ctx: Context) -> None:
        links = bundle.get("link")
        if type(links) is list and len(links) > 1:
            self._links(links, path, ctx)
        entries = bundle.get("entry")
        if type(entries) is not list:
            return
        # the message's own index, or one for a Bundle inside another
        index = ctx.index if ctx.index is not None and ctx.index.bundle is bundle else BundleIndex(bundle)
        for i, full_url in enumerate(index.full_urls):
            if type(full_url) is not str or full_url.startswith(_COMMON):
                continue
            if _ABSOLUTE.match(full_url) is None:
                self._add(
                    ctx,
                    f"{path}.entry[{i}].fullUrl",
                    "bundle-fullurl",
                    f"fullUrl {full_url!r} must be an absolute URL, a urn:uuid: or a urn:oid:",
                )
        kind = bundle.get("type") if type(bundle.get("type")) is str else None  # else reported as such
        if kind == "history":
            return  # one resource in several versions: the same Type/id more than once is its nature
        if kind not in _CLOSED and not index.repeated:
            return  # nothing to match twice, nothing that must be found: no walk (every message)
        by_url: dict[str, int] = {}
        for url in index.full_urls:
            if type(url) is str:
                by_url[url] = by_url.get(url, 0) + 1
        by_type_id: dict[str, list[tuple[int, Any]]] = {}
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if type(entry) is dict else None
            if type(resource) is dict and type(resource.get("id")) is str:
                meta = resource.get("meta")
                version = meta.get("versionId") if type(meta) is dict else None
                key = f"{resource.get('resourceType')}/{resource['id']}"
                by_type_id.setdefault(key, []).append((i, version))
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if type(entry) is dict else None
            if type(resource) is dict:
                self._references(resource, f"{path}.entry[{i}].resource", kind, by_url, by_type_id, ctx)

    def _links(self, links: list[Any], path: str, ctx: Context) -> None:
        seen: set[str] = set()
        for i, link in enumerate(links):
            relation = link.get("relation") if type(link) is dict else None
            if type(relation) is not str:
                continue
            if relation in seen:
                self._add(
                    ctx,
                    f"{path}.link[{i}]",
                    "bundle-link-relation",
                    f"the link relation {relation!r} occurs more than once; each relation names one URL",
                )
            seen.add(relation)

    def _references(
        self,
        resource: dict[str, Any],
        path: str,
        kind: Any,
        by_url: dict[str, int],
        by_type_id: dict[str, list[tuple[int, Any]]],
        ctx: Context,
    ) -> None:
        level: list[Any] = [resource]
        while level:
            deeper: list[Any] = []
            for value in level:
                if type(value) is dict:
                    ref = value.get("reference")
                    if type(ref) is str and not ref.startswith("#"):
                        self._resolve(ref, path, kind, by_url, by_type_id, ctx)
                    deeper += value.values()
                elif type(value) is list:
                    deeper += value
            level = deeper

    def _resolve(
        self,
        ref: str,
        path: str,
        kind: Any,
        by_url: dict[str, int],
        by_type_id: dict[str, list[tuple[int, Any]]],
        ctx: Context,
    ) -> None:
        if by_url.get(ref, 0) > 1:
            self._add(
                ctx,
                path,
                "bundle-reference-ambiguous",
                f"reference {ref!r} matches {by_url[ref]} entries of the Bundle (fullUrl)",
            )
            return
        if ref in by_url:
            return
        m = _RELATIVE.match(ref)
        if m is None:
            if kind in _CLOSED and ref.startswith(("urn:uuid:", "urn:oid:")):
                self._add(
                    ctx,
                    path,
                    "bundle-reference-not-found",
                    f"reference {ref!r} is not the fullUrl of any entry of this {kind} Bundle",
                )
            return
        base, rtype, rid, version = m.groups()
        if base and base.startswith(("http://", "https://")) and kind not in _CLOSED:
            return  # an absolute URL elsewhere: a server's, not this Bundle's
        found = by_type_id.get(f"{rtype}/{rid}", [])
        if version is not None:
            found = [f for f in found if f[1] == version]
        if len(found) > 1:
            self._add(
                ctx,
                path,
                "bundle-reference-ambiguous",
                f"reference {ref!r} matches {len(found)} entries of the Bundle",
            )
        elif not found and (kind in _CLOSED or (version is not None and by_type_id.get(f"{rtype}/{rid}"))):
            self._add(
                ctx,
                path,
                "bundle-reference-not-found",
                f"reference {ref!r} is not found in the {kind} Bundle"
                + (f" (no entry {rtype}/{rid} with meta.versionId {version})" if version else ""),
            )

    def _add(self, ctx: Context, path: str, rule: str, text: str) -> None:
        ctx.add(
            "error",
            "not-found" if "not-found" in rule else "invalid",
            f"{path}: {text} ({self.where}, rule {rule}).",
            path,
            rule,
            self.where.url,
        )
