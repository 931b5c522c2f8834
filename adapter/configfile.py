"""A YAML file an integration team edits (routing table, step table, rules, mapping rules), read into
its pydantic model: one way to load, validate and say what is wrong, naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def load_model(path: Path, model: type[M], error: type[Exception], *, missing: str | None = None) -> M:
    """The file at `path` as `model`. Not YAML or not the model: `error` naming the file and each
    problem. A file that does not exist: `error` "`missing`: PATH does not exist" when `missing`
    names what it is, else the FileNotFoundError itself."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        return model.model_validate(data)
    except FileNotFoundError:
        if missing is None:
            raise
        raise error(f"{missing}: {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not YAML: {exc}") from exc
    except ValidationError as exc:
        raise error(f"{path}: {'; '.join(_problem(e) for e in exc.errors())}") from exc


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "the file"
    given = error.get("input")
    shown = f" (given {given!r})" if isinstance(given, str | int | float | bool) else ""
    return f"{where}: {error['msg']}{shown}"
