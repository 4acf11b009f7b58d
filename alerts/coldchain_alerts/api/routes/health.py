"""GET /healthz: is the database reachable, is the broker connected.

200 when both are, 503 otherwise; exempt from any authentication added later.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from coldchain_alerts.api.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    responses={503: {"description": "Database or broker unreachable", "model": dict[str, bool]}},
)
def healthz(request: Request, response: Response, session: SessionDep) -> dict[str, bool]:
    try:
        session.execute(text("SELECT 1"))
        database = True
    except SQLAlchemyError:
        database = False
    broker = request.app.state.service.consumer.connected
    if not (database and broker):
        response.status_code = 503
    return {"database": database, "broker": broker}
