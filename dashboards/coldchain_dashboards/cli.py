"""`coldchain-dashboards`: build the Grafana dashboards as JSON, or publish them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coldchain.errors import FleetConfigError
from coldchain.fleet import Fleet
from coldchain.peoplefile import PeopleFile, PeopleFileError
from coldchain_dashboards.build import build as build_boards
from coldchain_dashboards.build import write
from coldchain_dashboards.errors import DashboardError
from coldchain_dashboards.publish import publish as publish_boards
from coldchain_dashboards.sites import folders, provisioning

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
    per_site: Annotated[
        bool, typer.Option(help="Also each site's own dashboards, in sites/{site}/{de,en}/.")
    ] = False,
    provisioning_file: Annotated[
        Path | None,
        typer.Option(
            "--provisioning",
            help="Also write Grafana's dashboard providers (one per folder) to this file.",
        ),
    ] = None,
) -> None:
    """Write de/ and en/ operations.json, compliance.json, audit.json and years.json."""
    parsed = _fleet(fleet)
    try:
        written = write(parsed, out, per_site=per_site)
    except DashboardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for path in written:
        typer.echo(f"wrote {path}")
    if provisioning_file is not None:
        text = provisioning(folders(parsed, per_site=per_site))
        provisioning_file.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {provisioning_file}")


@app.command()
def publish(
    url: Annotated[str, typer.Option(help="Grafana's address, e.g. http://localhost:3000.")],
    token: Annotated[
        str,
        typer.Option(
            envvar="GRAFANA_TOKEN", help="Service-account token (Admin).", show_default=False
        ),
    ],
    people: Annotated[
        Path,
        typer.Option(
            help="Who works at which sites: `coldchain-alerts user export --format grafana FILE`.",
            exists=True,
            dir_okay=False,
        ),
    ],
    fleet: FleetOption = Path("fleet/dortmund-hub.yaml"),
    dashboards: Annotated[
        bool,
        typer.Option(
            help="Write the dashboards; --no-dashboards for a Grafana that loads them from "
            "files (compose.yaml): folders, teams and permissions only."
        ),
    ] = True,
) -> None:
    """Put the hub's and every site's dashboards into a running Grafana, one team per site."""
    parsed = _fleet(fleet)
    try:
        listed = PeopleFile.from_json(people.read_text(encoding="utf-8"))
    except PeopleFileError as exc:
        typer.echo(f"error: {people}: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        boards = build_boards(parsed, per_site=True)
        done = publish_boards(
            boards, folders(parsed, per_site=True), url, token, listed, dashboards=dashboards
        )
    except DashboardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for board_url in done.dashboards:
        typer.echo(f"published {board_url}")
    for change in done.changes:
        typer.echo(change)
    for warning in done.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if dashboards:
        typer.echo(f"{done.unchanged} dashboards unchanged")


def _fleet(path: Path) -> Fleet:
    try:
        return Fleet.from_yaml(path.read_text(encoding="utf-8"))
    except FleetConfigError as exc:
        typer.echo(f"error: {path}: {exc}", err=True)
        raise typer.Exit(1) from None


def main() -> None:
    app()
