"""InfluxQL written by our services: one way to put a value into a query safely."""

from __future__ import annotations


def literal(value: str) -> str:
    """`value` as an InfluxQL string literal: in single quotes, quote and backslash escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
