"""Who is calling, as FastAPI dependencies, and the runtime the handlers work with.

`authenticated` is the dependency every endpoint but health and metrics takes the caller from
(client certificate or bearer token → party, see adapter/security/identity.py); `admin` also
requires the admin role. A refusal is a 401/403 OperationOutcome and an audit record. Which cases a
caller reads is adapter/security/access.py.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

import anyio
from fastapi import Depends, HTTPException, Request

from adapter.runtime import Runtime
from adapter.security.identity import Caller, Denied
from adapter.security.tls import CLIENT_CERT

# The dependencies are coroutines: FastAPI runs a plain function dependency in a worker thread,
# a hop that cost more CPU per message than deciding who is calling. What does I/O goes to a
# worker thread still: fetching the issuer's keys from a JWKS URL, and a refusal's audit write.


async def runtime_of(request: Request) -> Runtime:
    """FastAPI dependency: the app's runtime, built at start-up (adapter/runtime.py)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


async def authenticated(request: Request, runtime: RuntimeDep) -> Caller:
    """The calling party, or a 401/403 (audited)."""
    authenticator = runtime.authenticator
    identify = partial(authenticator.authenticate, request.headers, getattr(request.state, CLIENT_CERT, None))
    try:
        return await anyio.to_thread.run_sync(identify) if authenticator.fetches_keys else identify()
    except Denied as denied:
        raise await _refuse(runtime, request, denied) from None


async def caller_party(caller: Caller = Depends(authenticated)) -> str:
    """HSA-id of the calling party."""
    return caller.party


async def admin(request: Request, runtime: RuntimeDep, caller: Caller = Depends(authenticated)) -> Caller:
    """The caller, who must have the admin role."""
    if not caller.admin:
        raise await _refuse(runtime, request, Denied(403, "This needs the admin role.", caller.party))
    return caller


async def _refuse(runtime: Runtime, request: Request, denied: Denied) -> HTTPException:
    await anyio.to_thread.run_sync(runtime.audit.refused, denied, request.method, request.url.path)
    headers = {"WWW-Authenticate": "Bearer"} if denied.status == 401 else None
    return HTTPException(denied.status, denied.reason, headers=headers)
