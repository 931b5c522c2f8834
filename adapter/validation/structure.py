"""Base FHIR R4 structure: element names, datatypes and primitive formats, via fhir.resources."""

from __future__ import annotations

from typing import Any

import pydantic
from fhir.resources.R4B import get_fhir_model_class

from adapter.validation.issues import Issue

_R4 = "http://hl7.org/fhir/StructureDefinition/"


def check_structure(resource: dict[str, Any], *, path: str | None = None) -> list[Issue]:
    """Issues for anything in `resource` that is not valid R4 structure."""
    rtype = resource.get("resourceType")
    root = path or (rtype if isinstance(rtype, str) else "Resource")
    if not isinstance(rtype, str):
        return [Issue("error", "structure", "The resource has no resourceType.", root, "resource-type")]
    try:
        model = get_fhir_model_class(rtype)
    except ValueError:
        return [
            Issue("error", "structure", f"{rtype!r} is not a FHIR R4 resource type.", root, "resource-type")
        ]
    try:
        model.model_validate(resource)
    except pydantic.ValidationError as exc:
        return [_issue(root, err, rtype) for err in exc.errors()]
    except (ValueError, TypeError) as exc:
        return [Issue("error", "structure", f"Invalid {rtype}: {exc}", root, "structure", _R4 + rtype)]
    return []


def _issue(root: str, err: Any, rtype: str) -> Issue:
    loc = [p for p in err["loc"] if p != "__root__"]
    expression = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        message = f"Unknown element {loc[-1]!r}: it is not part of {rtype} in FHIR R4."
        code = "structure"
    elif kind == "missing":
        message = f"Required element {loc[-1]!r} is missing."
        code = "required"
    else:
        message = f"Invalid value: {str(err['msg']).rstrip('.')}."
        code = "value"
    return Issue("error", code, message, expression, f"r4-{kind}", _R4 + rtype)
