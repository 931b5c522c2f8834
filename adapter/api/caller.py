"""Who is calling, and which cases they may see.

`authenticated` is the FastAPI dependency every endpoint but health and metrics takes the caller
from (client certificate or bearer token → party, see adapter/security/identity.py); `admin`
also requires the admin role. A refusal is a 401/403 OperationOutcome and an audit record.
A caller with the admin role reads every case the adapter holds; any other only the cases its party
is a party to (its unit, kommun or vårdcentral, or named by one of its messages).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import Depends, HTTPException, Request

from adapter.security.audit import patient_hash
from adapter.security.identity import Caller, Denied
from adapter.security.tls import CLIENT_CERT

if TYPE_CHECKING:  # adapter.app imports the routers that import this module
    from adapter.app import Runtime


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


# The dependencies are coroutines: FastAPI runs a plain function dependency in a worker thread,
# a hop that cost more CPU per message than deciding who is calling. What does I/O goes to a
# worker thread still: fetching the issuer's keys from a JWKS URL, and a refusal's audit write.


async def authenticated(request: Request) -> Caller:
    """The calling party, or a 401/403 (audited)."""
    runtime = runtime_of(request)
    authenticator = runtime.authenticator
    identify = partial(authenticator.authenticate, request.headers, getattr(request.state, CLIENT_CERT, None))
    try:
        return await anyio.to_thread.run_sync(identify) if authenticator.fetches_keys else identify()
    except Denied as denied:
        raise await _refuse(runtime, request, denied) from None


async def admin(request: Request, caller: Caller = Depends(authenticated)) -> Caller:
    """The caller, who must have the admin role."""
    if not caller.admin:
        raise await _refuse(
            runtime_of(request), request, Denied(403, "This needs the admin role.", caller.party)
        )
    return caller


async def _refuse(runtime: Runtime, request: Request, denied: Denied) -> HTTPException:
    detail = {"method": request.method, "path": request.url.path[:200], "reason": denied.reason[:300]}
    await anyio.to_thread.run_sync(
        lambda: runtime.store.audit(
            None,
            party=denied.party,
            action="authorize" if denied.status == 403 else "authenticate",
            outcome="denied",
            detail=detail,
        )
    )
    headers = {"WWW-Authenticate": "Bearer"} if denied.status == 401 else None
    return HTTPException(denied.status, denied.reason, headers=headers)


def reading_scope(caller: Caller) -> str | None:
    """Whose cases `caller` reads: None for every case (the admin role), else its own party's, the
    cases it is a party to (adapter/routing/parties.py)."""
    return None if caller.admin else caller.party


def sees_protected_details(runtime: Runtime, party: str) -> bool:
    """Whether `party` may see a protected patient's name and address: this adapter's own party,
    and those its routing table says need them."""
    config = runtime.routing.party(party)
    own = party == runtime.routing.self_.hsa_id
    return own or (config is not None and config.sees_protected_details)


def audit_reads(
    runtime: Runtime,
    party: str,
    case_patients: Iterable[tuple[str, str]],
    action: str,
    detail: dict[str, Any],
) -> None:
    """One audit record per case read (PDL log review finds them by patient): `case_patients` is
    (case id, patient identifier) pairs; the identifier is stored only as a keyed hash."""
    key = runtime.pipeline.audit_key
    with runtime.store.transaction() as conn:
        for case_id, identifier in case_patients:
            runtime.store.audit(
                conn,
                party=party,
                action=action,
                outcome="ok",
                case_id=case_id,
                patient_hash=patient_hash(identifier, key),
                detail=detail,
            )
