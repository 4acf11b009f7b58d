"""Database engine, sessions and migrations (SQLAlchemy 2, Alembic).

SQLite by default, PostgreSQL by URL. The schema is Alembic's
(`coldchain_alerts/migrations`); `migrate` brings any database to the newest
revision and is run at start and by `coldchain-alerts db upgrade`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

MIGRATIONS = Path(__file__).parent / "migrations"
#: Execution option marking connections of writing sessions.
_WRITES = "coldchain_writes"


class Base(DeclarativeBase):
    pass


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC; always gives back timezone-aware UTC datetimes, also from SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; coldchain stores UTC with an offset")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, writes_idle_s: float | None = None) -> Engine:
    """The engine of the database at `url`.

    With `writes_idle_s`, on PostgreSQL, a writing transaction (make_sessionmaker's
    `writes`) left idle that long is ended by the server, which frees its row locks:
    an instance that hangs in one (stopped, swapping, cut off) would otherwise hold,
    say, the audit chain's head and stall every other instance's writes for good.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True)
        if writes_idle_s is not None:
            timeout_ms = max(1, round(writes_idle_s * 1000))

            @event.listens_for(engine, "begin")
            def _limit(connection):  # type: ignore[no-untyped-def]
                if connection.get_execution_options().get(_WRITES, False):
                    connection.exec_driver_sql(
                        f"SET LOCAL idle_in_transaction_session_timeout = {timeout_ms}"
                    )

        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, connection_record):  # type: ignore[no-untyped-def]
        # Transactions are begun below, not by the driver.
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA busy_timeout=10000")
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _begin(connection):  # type: ignore[no-untyped-def]
        # A writing transaction takes the write lock when it begins: one that read
        # first and wrote later could otherwise fail at once with "database is
        # locked" when another wrote in between (busy_timeout does not help there).
        # Reading transactions stay deferred, so they never wait for writers.
        writes = connection.get_execution_options().get(_WRITES, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def make_sessionmaker(engine: Engine, writes: bool = False) -> sessionmaker:  # type: ignore[type-arg]
    """Sessions on `engine`; with `writes`, for transactions that change something
    (see make_engine: they take SQLite's write lock at once, and on PostgreSQL may
    be limited in how long they idle)."""
    return sessionmaker(writing(engine) if writes else engine, expire_on_commit=False)


def writing(engine: Engine) -> Engine:
    """`engine`, for transactions that change something (make_sessionmaker)."""
    return engine.execution_options(**{_WRITES: True})


def read_snapshot(session: Session) -> None:
    """Let the session's transaction read one snapshot: every query in it sees the same
    commits. Call before its first query. A SQLite read transaction does so anyway;
    PostgreSQL's default lets each statement see what committed before it."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema revision."""
    command.upgrade(alembic_config(url), "head")
