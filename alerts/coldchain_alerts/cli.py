"""`coldchain-alerts`: run the alerts service (API and alert-event consumer)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from coldchain.logs import configure_logging
from coldchain_alerts.main import create_app
from coldchain_alerts.settings import AlertsSettings

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def run(
    env_file: Annotated[
        Path | None,
        typer.Option(
            help="A .env file with COLDCHAIN_ALERTS_* settings.", exists=True, dir_okay=False
        ),
    ] = None,
) -> None:
    """Serve the API and store alert events until SIGTERM or Ctrl-C."""
    settings = AlertsSettings(_env_file=env_file)
    configure_logging(settings.log_format)
    # In json mode uvicorn's loggers go through ours; text keeps uvicorn's own format.
    log_config = None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=log_config,
    )


def main() -> None:
    app()
