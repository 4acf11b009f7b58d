"""What can go wrong building or publishing the dashboards, said so a user can act on it."""

from __future__ import annotations


class DashboardError(Exception):
    """Base of this package's errors."""


class FleetNotSupported(DashboardError):
    """The fleet file describes something the dashboards cannot show correctly."""


class PublishFailed(DashboardError):
    """Grafana refused or could not be reached."""
