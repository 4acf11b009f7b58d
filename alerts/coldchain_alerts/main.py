"""The alerts service's FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from coldchain.contract import AlertEvent
from coldchain_alerts.api.routes import alerts, health, metrics
from coldchain_alerts.consumer import AlertConsumer
from coldchain_alerts.db import Base, make_engine, make_sessionmaker
from coldchain_alerts.settings import AlertsSettings
from coldchain_alerts.store import apply_event


def create_app(settings: AlertsSettings) -> FastAPI:
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    measured = metrics.AlertsMetrics()

    def handle(event: AlertEvent) -> None:
        with sessions.begin() as session:
            apply_event(session, event)
        measured.events.inc()

    consumer = AlertConsumer(settings, handle)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        Base.metadata.create_all(engine)
        consumer.start()
        yield
        consumer.stop()
        engine.dispose()

    app = FastAPI(title="coldchain alerts", version="0.1.0", lifespan=lifespan)
    app.state.sessions = sessions
    app.state.consumer = consumer
    app.state.metrics = measured
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(alerts.router)
    return app
