"""Alembic environment: the alerts service's models, the URL from db.alembic_config."""

from __future__ import annotations

from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import engine_from_config, pool

from coldchain_alerts import models
from coldchain_alerts.db import Base, UtcDateTime

assert models  # the models register their tables on Base.metadata

#: Tables others own in our database: APScheduler's job store.
FOREIGN_TABLES = {"apscheduler_jobs"}


def _include(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "table" and name in FOREIGN_TABLES)


def _render(type_: str, obj: object, autogen_context: AutogenContext) -> str | Literal[False]:
    # Our UTC column type is a DateTime with a time zone underneath; migrations say so.
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run() -> None:
    config = context.config
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            include_object=_include,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            render_item=_render,
        )
        with context.begin_transaction():
            context.run_migrations()


run()
