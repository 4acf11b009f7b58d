"""The alerts service's SQL store, whole: every table, whoever added it.

SQLite through its online backup API (a consistent copy while the service writes),
PostgreSQL through `pg_dump -Fc` and `pg_restore`. Table by table would miss the tables
of the next migration; the whole database cannot.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from coldchain_admin.errors import BackupFailed, RestoreFailed, TargetNotEmpty
from coldchain_admin.statefile import copy_sqlite

TIMEOUT_S = 3600
SQLITE_FILE = "alerts.sqlite3"
POSTGRESQL_FILE = "alerts.pgdump"


@dataclass(frozen=True)
class Store:
    """What the manifest says of a backed-up SQL store."""

    dialect: str
    server_version: str
    alembic_revision: str | None
    file: str


def backup(database_url: str, directory: Path) -> Store:
    url = make_url(database_url)
    revision = alembic_revision(database_url)
    if url.get_backend_name() == "sqlite":
        copy_sqlite(_sqlite_path(url), directory / SQLITE_FILE, BackupFailed)
        return Store("sqlite", sqlite3.sqlite_version, revision, SQLITE_FILE)
    _run(
        "pg_dump",
        ["--format=custom", f"--file={directory / POSTGRESQL_FILE}", _libpq(url)],
        url,
        BackupFailed,
    )
    return Store("postgresql", _server_version(database_url), revision, POSTGRESQL_FILE)


def refuse_if_not_empty(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and not _sqlite_path(url).exists():
        return
    tables = _tables(database_url)
    if tables:
        raise TargetNotEmpty(
            f"the SQL store {url.render_as_string(hide_password=True)} already has tables "
            f"({', '.join(sorted(tables)[:5])}...): restore into an empty database"
        )


def restore(database_url: str, dialect: str, source: Path) -> None:
    url = make_url(database_url)
    if url.get_backend_name() != dialect:
        raise RestoreFailed(
            f"the backup holds a {dialect} store, COLDCHAIN_ADMIN_DATABASE_URL is "
            f"{url.get_backend_name()}: restore into the kind of database it came from"
        )
    if dialect == "sqlite":
        copy_sqlite(source, _sqlite_path(url), RestoreFailed)
        return
    _run(
        "pg_restore",
        [
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={_libpq(url)}",
            str(source),
        ],
        url,
        RestoreFailed,
    )


def alembic_revision(database_url: str) -> str | None:
    """The schema's Alembic revision, or None for a database Alembic never ran on."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            if "alembic_version" not in inspect(connection).get_table_names():
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        raise BackupFailed(
            f"the SQL store cannot be read: {exc.__class__.__name__}: {exc}"
        ) from None
    finally:
        engine.dispose()


def _tables(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return inspect(connection).get_table_names()
    except SQLAlchemyError as exc:
        raise RestoreFailed(f"the SQL store cannot be read: {exc}") from None
    finally:
        engine.dispose()


def _server_version(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SHOW server_version")).scalar())
    finally:
        engine.dispose()


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupFailed("an SQLite store in memory has nothing to back up or restore into")
    return Path(url.database)


def _libpq(url: URL) -> str:
    """The URL as libpq takes it: no driver name, no password (PGPASSWORD has it)."""
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _run(program: str, args: list[str], url: URL, error: type[Exception]) -> None:
    executable = shutil.which(program)
    if executable is None:
        raise error(f"{program} is not installed here (Debian: postgresql-client)")
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    try:
        done = subprocess.run(
            [executable, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise error(f"{program} took longer than {TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise error(f"{program} failed: {done.stderr.strip() or done.returncode}")
