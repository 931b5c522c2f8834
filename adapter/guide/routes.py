"""GET /guide: the implementation guide, built from the running adapter's own validator, mapping
rules and configured folders on the first request, then served from memory: not at start-up,
where it would cost every process (and every test) a few tenths of a second most never use. Any
identified caller may read it (it holds test identities only)."""

from __future__ import annotations

import mimetypes
import threading

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from adapter.api.caller import RuntimeDep, authenticated
from adapter.api.responses import outcome_response
from adapter.fhir.issues import Issue
from adapter.guide.site import build_site
from adapter.guide.sources import Sources
from adapter.mapping.rules import MappingError
from adapter.routing.steps import StepsConfigError
from adapter.rules_config import RulesConfigError
from adapter.runtime import Runtime
from adapter.validation.package import PackageError

router = APIRouter(tags=["guide"], dependencies=[Depends(authenticated)])
_lock = threading.Lock()


class GuideUnavailable(Exception):
    """The configured folders lack what the guide is made of (a step table, LUS rules …)."""


def _files(request: Request, runtime: Runtime) -> dict[str, bytes]:
    state = request.app.state
    with _lock:  # built once per app, however many first requests come at once
        files: dict[str, bytes] | None = getattr(state, "guide_files", None)
        if files is None:
            try:
                sources = Sources.load(runtime.settings, runtime)
            except (StepsConfigError, RulesConfigError, MappingError, PackageError) as exc:
                raise GuideUnavailable(str(exc)) from exc
            files = state.guide_files = build_site(sources)
    return files


@router.get("/guide", include_in_schema=False)
def guide_root() -> RedirectResponse:
    return RedirectResponse("/guide/index.html")


@router.get("/guide/{name}", summary="A page or file of the implementation guide")
def guide_file(name: str, request: Request, runtime: RuntimeDep) -> Response:
    try:
        content = _files(request, runtime).get(name)
    except GuideUnavailable as exc:
        return outcome_response(
            503, Issue("error", "exception", f"The guide cannot be built: {exc}", None, "guide-unavailable")
        )
    if content is None:
        raise HTTPException(404, f"No page {name} in the guide")
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name.endswith(".tgz"):
        media = "application/gzip"
    elif media.startswith("text/"):
        media += "; charset=utf-8"
    return Response(content, media_type=media)
