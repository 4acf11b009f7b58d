"""The alerts service's FastAPI application: API, pages, and the background parts."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles

from coldchain.alerting import WorkflowError
from coldchain_alerts import gateways, lifecycle, people, registry
from coldchain_alerts.api.deps import single_valued_query
from coldchain_alerts.api.routes import (
    alerts,
    audit,
    calibration,
    contacts,
    deliveries,
    fleet,
    health,
    metrics,
    partner,
    policies,
    users,
)
from coldchain_alerts.api.routes import gateways as gateway_routes
from coldchain_alerts.auth import LoginThrottle, PasswordTooShort
from coldchain_alerts.bodies import BodyTooLarge
from coldchain_alerts.service import AlertsService
from coldchain_alerts.settings import AlertsSettings
from coldchain_alerts.web import audit as audit_page
from coldchain_alerts.web import calibration as calibration_pages
from coldchain_alerts.web import fleet as fleet_pages
from coldchain_alerts.web import pages
from coldchain_alerts.web.pages import STATIC, LoginRequired
from coldchain_io import dynsec


def create_app(settings: AlertsSettings) -> FastAPI:
    service = AlertsService(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        yield
        service.stop()

    # Swagger UI (/docs) from files a package ships, not from a CDN: a hub's network
    # often ends at its router. No ReDoc: its page fetches its logo from the internet.
    app = FastAPIOffline(
        redoc_url=None,
        title="coldchain alerts",
        version=version("coldchain-alerts"),
        description="Alerts of the cold chain: find them, acknowledge them, close them with "
        "a corrective action; contacts, escalation policies, users and the audit log. "
        "Every endpoint but /healthz and /metrics needs an API token "
        "(`Authorization: Bearer ...`), /partner/v1 a partner's API key; without one a "
        "request is refused before its body is read. Errors are JSON: "
        '`{"detail": ...}`.',
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.sessions = service.sessions
    app.state.writes = service.writes
    app.state.max_body_bytes = settings.max_body_bytes
    app.state.throttle = LoginThrottle()
    app.state.partner_throttle = LoginThrottle()
    app.add_middleware(
        SessionMiddleware,
        secret_key=service.secret_key,
        session_cookie="coldchain_session",
        max_age=int(settings.session_hours * 3600),
        same_site="lax",
        https_only=(
            settings.cookie_secure
            if settings.cookie_secure is not None
            else settings.public_url.startswith("https://")
        ),
    )
    for router in (health, metrics):
        app.include_router(router.router)
    # Every API operation refuses a query parameter given twice (422).
    for router in (
        alerts,
        contacts,
        policies,
        users,
        audit,
        gateway_routes,
        deliveries,
        partner,
        fleet,
        calibration,
    ):
        app.include_router(router.router, dependencies=[Depends(single_valued_query)])
    app.include_router(pages.router)
    app.include_router(fleet_pages.router)
    app.include_router(calibration_pages.router)
    app.include_router(audit_page.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(WorkflowError)
    async def _workflow(request: Request, error: WorkflowError) -> JSONResponse:
        status = 404 if isinstance(error, lifecycle.AlertNotFound) else 409
        return JSONResponse({"detail": error.message, "code": error.code}, status_code=status)

    @app.exception_handler(people.NotFound)
    async def _not_found(request: Request, error: people.NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.exception_handler(people.Conflict)
    async def _conflict(request: Request, error: people.Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=409)

    @app.exception_handler(gateways.NotConfigured)
    async def _not_configured(request: Request, error: gateways.NotConfigured) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503)

    @app.exception_handler(dynsec.DynsecUnavailable)
    async def _broker_away(request: Request, error: dynsec.DynsecUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503)

    @app.exception_handler(dynsec.DynsecError)
    async def _broker_refused(request: Request, error: dynsec.DynsecError) -> JSONResponse:
        return JSONResponse({"detail": f"the broker refused: {error}"}, status_code=409)

    @app.exception_handler(registry.RegistryError)
    async def _registry(request: Request, error: registry.RegistryError) -> Response:
        if _for_machines(request):
            return JSONResponse({"detail": error.detail}, status_code=error.status)
        return pages.refused(request, error.status, [error.detail])

    @app.exception_handler(PasswordTooShort)
    async def _password(request: Request, error: PasswordTooShort) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    # The API answers errors in JSON; the pages answer people with a page that says why.
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        if _for_machines(request):
            return EchoingJSONResponse({"detail": jsonable_encoder(error.errors())}, 422)
        reasons = [f"{problem['loc'][-1]}: {problem['msg']}" for problem in error.errors()]
        return pages.refused(request, 422, reasons)

    @app.exception_handler(HTTPException)
    async def _refused(request: Request, error: HTTPException) -> Response:
        if isinstance(error, BodyTooLarge):
            service.metrics.requests_refused.labels(reason="body_too_large").inc()
        if _for_machines(request):
            return await http_exception_handler(request, error)
        return pages.refused(request, error.status_code, [str(error.detail)], error.headers)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, error: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(error.next_url)}", status_code=303)

    return app


class EchoingJSONResponse(JSONResponse):
    """JSON that can carry any value a request held: FastAPI's list of invalid values echoes
    each one. A lone surrogate from a JSON escape (\\ud800) is valid JSON but cannot be UTF-8,
    so all but ASCII is escaped; 1e400 and NaN parse as numbers JSON cannot write, so those
    are written as text ("inf", "nan")."""

    def render(self, content: object) -> bytes:
        return json.dumps(_finite(content), allow_nan=False, separators=(",", ":")).encode()


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _for_machines(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/partner/"))
