"""UUID strings, the one way the adapter makes them: as `uuid.uuid4()`/`uuid.uuid5()` give them, but
without building UUID objects, since every message takes a dozen (stable outbound ids, entry
fullUrls) and the objects cost more than the hashing (bench.ingest)."""

from __future__ import annotations

import hashlib
import os
import uuid


class Namespace:
    """A UUID namespace for name-based (version 5) UUIDs: the same name, the same UUID."""

    __slots__ = ("_prefix",)

    def __init__(self, namespace: str) -> None:
        self._prefix = uuid.UUID(namespace).bytes

    def uuid(self, name: str) -> str:
        """str(uuid.uuid5(namespace, name))."""
        return _format(hashlib.sha1(self._prefix + name.encode()).digest(), 0x50)

    def urn(self, name: str) -> str:
        return f"urn:uuid:{self.uuid(name)}"


def random_uuid() -> str:
    """str(uuid.uuid4())."""
    return _format(os.urandom(16), 0x40)


def as_uuid(text: str, namespace: Namespace) -> str:
    """`text` in the canonical form if it is a UUID, else the name-based UUID of `text`."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return namespace.uuid(text)


def _format(digest: bytes, version: int) -> str:
    raw = bytearray(digest[:16])
    raw[6] = (raw[6] & 0x0F) | version
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    x = raw.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"
