"""coldchain dashboards as code: Grafana JSON built from the fleet, and its publication."""

from coldchain_dashboards.build import build, render, write
from coldchain_dashboards.errors import DashboardError, FleetNotSupported, PublishFailed
from coldchain_dashboards.publish import publish

__all__ = [
    "DashboardError",
    "FleetNotSupported",
    "PublishFailed",
    "build",
    "publish",
    "render",
    "write",
]
