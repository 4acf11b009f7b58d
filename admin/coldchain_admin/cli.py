"""`coldchain-admin`: back up the hub's records, restore them, and back up on a schedule.

Every command reads COLDCHAIN_ADMIN_* settings (or --env-file). Exit status: 0 done,
1 a store failed part-way (the message says what is done), 2 the backup or a target
was refused before anything was changed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from coldchain_admin import backup, restore, schedule
from coldchain_admin.errors import AdminError, BackupRefused, TargetNotEmpty
from coldchain_admin.settings import AdminSettings

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console()
EnvFile = Annotated[
    Path | None,
    typer.Option(help="A .env file with COLDCHAIN_ADMIN_* settings.", exists=True, dir_okay=False),
]


def _fail(exc: AdminError) -> typer.Exit:
    refused = isinstance(exc, BackupRefused | TargetNotEmpty)
    label = "refused, nothing changed" if refused else "failed"
    console.print(f"[red]{label}:[/red] {escape(str(exc))}")
    return typer.Exit(2 if refused else 1)


@app.command("backup")
def backup_command(
    directory: Annotated[Path, typer.Argument(help="A new or empty directory.")],
    env_file: EnvFile = None,
) -> None:
    """Back up InfluxDB, the alerts store, ingest's state file, the broker's accounts and the
    key list into DIRECTORY."""
    settings = AdminSettings(_env_file=env_file)
    try:
        made = backup.make(settings, directory)
    except AdminError as exc:
        raise _fail(exc) from None
    size = sum(entry.bytes for entry in made.files)
    console.print(
        f"backed up into {escape(str(directory))}: {len(made.files)} files, {size} bytes, "
        f"{made.took_s:.1f} s; schema {made.sql.alembic_revision}, "
        f"InfluxDB {made.influxdb.version}"
    )


@app.command("restore")
def restore_command(
    directory: Annotated[Path, typer.Argument(help="A backup made by `backup`.")],
    check_only: Annotated[
        bool, typer.Option("--check", help="Only check the backup and the targets.")
    ] = False,
    env_file: EnvFile = None,
) -> None:
    """Restore DIRECTORY onto fresh servers: check all, restore, migrate, verify the audit log."""
    settings = AdminSettings(_env_file=env_file)
    try:
        if check_only:
            found = restore.check(settings, directory)
            console.print(
                f"[green]fit to restore:[/green] {len(found.files)} files unchanged, "
                f"made {found.finished_at.isoformat()}; the targets are empty"
            )
            return
        done = restore.run(settings, directory)
    except AdminError as exc:
        raise _fail(exc) from None
    console.print(
        f"[green]restored[/green] the backup of {done.manifest.finished_at.isoformat()}: "
        f"schema {done.manifest.sql.alembic_revision} -> {done.revision_after}; "
        f"{escape(done.audit)}"
    )


@app.command("serve")
def serve_command(env_file: EnvFile = None) -> None:
    """Back up into COLDCHAIN_ADMIN_BACKUP_ROOT now and every COLDCHAIN_ADMIN_INTERVAL_H,
    keeping the newest COLDCHAIN_ADMIN_KEEP complete backups."""
    settings = AdminSettings(_env_file=env_file)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    schedule.serve(settings)


@app.command("status")
def status_command(env_file: EnvFile = None) -> None:
    """Exit 0 when a complete, unchanged backup newer than COLDCHAIN_ADMIN_MAX_AGE_H is
    under the backup root; 1, with the reason, when not (a health check, a monitor)."""
    settings = AdminSettings(_env_file=env_file)
    try:
        problem = schedule.overdue(settings)
    except AdminError as exc:
        problem = f"the newest backup is damaged: {exc}"
    if problem is not None:
        console.print(f"[red]no fresh backup:[/red] {escape(problem)}")
        raise typer.Exit(1)
    console.print("[green]a fresh backup is there[/green]")


def main() -> None:
    app()
