"""`coldchain-dashboards`: build the Grafana dashboards as JSON, or publish them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coldchain.errors import FleetConfigError
from coldchain.fleet import Fleet
from coldchain_dashboards.build import build as build_boards
from coldchain_dashboards.build import write
from coldchain_dashboards.errors import DashboardError
from coldchain_dashboards.publish import publish as publish_boards

app = typer.Typer(add_completion=False, help=__doc__)

FleetOption = Annotated[
    Path,
    typer.Option(help="The fleet file the limits come from.", exists=True, dir_okay=False),
]


@app.command()
def build(
    out: Annotated[Path, typer.Option(help="Folder to write the *.json into.")] = Path(
        "dashboards"
    ),
    fleet: FleetOption = Path("fleet/dortmund-hub.yaml"),
) -> None:
    """Write de/ and en/ operations.json, compliance.json and audit.json."""
    for path in write(_fleet(fleet), out):
        typer.echo(f"wrote {path}")


@app.command()
def publish(
    url: Annotated[str, typer.Option(help="Grafana's address, e.g. http://localhost:3000.")],
    token: Annotated[
        str,
        typer.Option(
            envvar="GRAFANA_TOKEN", help="Service-account token (Editor).", show_default=False
        ),
    ],
    fleet: FleetOption = Path("fleet/dortmund-hub.yaml"),
) -> None:
    """Create or overwrite the dashboards in a running Grafana (a folder per language)."""
    try:
        urls = publish_boards(build_boards(_fleet(fleet)), url, token)
    except DashboardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for board_url in urls:
        typer.echo(f"published {board_url}")


def _fleet(path: Path) -> Fleet:
    try:
        return Fleet.from_yaml(path.read_text(encoding="utf-8"))
    except FleetConfigError as exc:
        typer.echo(f"error: {path}: {exc}", err=True)
        raise typer.Exit(1) from None


def main() -> None:
    app()
