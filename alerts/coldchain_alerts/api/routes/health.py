"""GET /healthz: is the database reachable, is the broker connected.

200 when both are, 503 otherwise; exempt from any authentication added later.
Points InfluxDB refused (dead letters, outbox.py) are named as a warning with a
200: the service still does its work, and restarting it would not fix them.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from coldchain_alerts.api.deps import SessionDep
from coldchain_alerts.bodies import LimitedRoute
from coldchain_alerts.outbox import count_dead_letters

router = APIRouter(tags=["health"], route_class=LimitedRoute)


class Health(BaseModel):
    database: bool
    broker: bool
    influx_refused: int | None = Field(
        description="Points InfluxDB refused, kept in the table influx_dead_letter; "
        "null while the database is unreachable."
    )
    warnings: list[str] = Field(description="What works, but needs an operator.")
    leader: bool = Field(
        description="This instance escalates and runs the scheduled jobs; of several "
        "instances on one database, one leads (not a fault of the others)."
    )


@router.get(
    "/healthz",
    responses={503: {"description": "Database or broker unreachable", "model": Health}},
)
def healthz(request: Request, response: Response, session: SessionDep) -> Health:
    refused: int | None
    try:
        session.execute(text("SELECT 1"))
        refused = count_dead_letters(session)
        database = True
    except SQLAlchemyError:
        database, refused = False, None
    broker = request.app.state.service.consumer.connected
    if not (database and broker):
        response.status_code = 503
    warnings = []
    if refused:
        warnings.append(
            f"InfluxDB refused {refused} point(s): Grafana and the audit chain's copy lack "
            "them; `coldchain-alerts dead-letters list` lists them with the reason"
        )
    return Health(
        database=database,
        broker=broker,
        influx_refused=refused,
        warnings=warnings,
        leader=request.app.state.service.leadership.leading,
    )
