"""`lus-adapter guide build OUT`: the implementation guide as a folder of static files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

guide_app = typer.Typer(
    help="The implementation guide for vendors (also served at /guide).", no_args_is_help=True
)


@guide_app.command()
def build(
    out: Annotated[Path, typer.Argument(help="Folder to write the guide into (created if needed)")],
) -> None:
    """Generate the guide from the configured profiles, mappings, config and examples."""
    from adapter.config import Settings
    from adapter.guide import Sources, build_site, write_site

    files = build_site(Sources.load(Settings()))
    write_site(files, out)
    typer.echo(f"{len(files)} files written to {out}; open {out / 'index.html'}")
