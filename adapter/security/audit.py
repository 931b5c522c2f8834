"""The audit trail: identifiers of patients only as a keyed hash, so the log can be searched by
patient (PDL log review) without holding the personnummer itself."""

from __future__ import annotations

import hashlib
import hmac


def patient_hash(identifier: str, key: bytes) -> str:
    return hmac.new(key, identifier.encode(), hashlib.sha256).hexdigest()
