"""``tidyconf show``: print the effective settings."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from tidyconf.loader import LAYERS, layer_path, load_settings


@click.group()
def main() -> None:
    """Inspect layered settings."""


@main.command()
@click.option("--layer", type=click.Choice(LAYERS), multiple=True, help="Layers to read (default: all).")
def show(layer: tuple[str, ...]) -> None:
    settings = load_settings([layer_path(name) for name in (layer or LAYERS)])
    table = Table("setting", "value")
    for name, value in settings.items():
        table.add_row(name, repr(value))
    Console().print(table)
