"""Raw InfluxQL queries as Grafana targets, annotations and variables.

The foundation SDK has no InfluxDB query builder, so this module is the narrow cut
between our query text and Grafana's JSON: a query string in, the target object the
InfluxDB data source reads out. Every query is raw InfluxQL (`rawQuery: true`) so it
runs unchanged on InfluxDB 1.x, on 2.x through the v1 compatibility API, and on 3.x.

The data source is referred to by the uid that
`deploy/grafana/provisioning/datasources/influxdb.yaml` provisions.
"""

from __future__ import annotations

from typing import Literal, Self

from grafana_foundation_sdk.builders.dashboard import QueryVariable
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

DATASOURCE_UID = "coldchain-influxdb"
DATASOURCE = dashboard.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)

#: Grafana's macro for the dashboard's time range, `time >= ... AND time <= ...`.
TIME_FILTER = "$timeFilter"
#: Site and asset variables as InfluxQL conditions; Grafana escapes the values for a regex.
SITE_FILTER = '"site" =~ /^$site$/'
ASSET_FILTER = '"asset" =~ /^$asset$/'

ResultFormat = Literal["time_series", "table"]


class InfluxQLQuery(cogvariants.Dataquery):
    """One raw InfluxQL statement as the InfluxDB data source stores it in a panel."""

    def __init__(
        self, ref_id: str, query: str, result_format: ResultFormat, alias: str | None
    ) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": DATASOURCE,
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        return payload


class Target(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builder of an InfluxQLQuery, for `panel.with_target(...)`."""

    def __init__(self, ref_id: str, query: str) -> None:
        self._ref_id = ref_id
        self._query = query
        self._format: ResultFormat = "time_series"
        self._alias: str | None = None

    def table(self) -> Self:
        self._format = "table"
        return self

    def alias(self, alias: str) -> Self:
        """Series name, e.g. `$tag_asset` for the value of the `asset` tag."""
        self._alias = alias
        return self

    def build(self) -> cogvariants.Dataquery:
        return InfluxQLQuery(self._ref_id, self._query, self._format, self._alias)


class _AnnotationQuery(dashboard.AnnotationTarget):
    """The InfluxQL annotation target: a query and which columns hold end time, text, tags."""

    def __init__(self, query: str, time_end_column: str | None, text_column: str, tags_column: str):
        super().__init__()
        self.query = query
        self.time_end_column = time_end_column
        self.text_column = text_column
        self.tags_column = tags_column

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": "Anno",
            "query": self.query,
            "rawQuery": True,
            "resultFormat": "table",
            "fromAnnotations": True,
            "textColumn": self.text_column,
            "tagsColumn": self.tags_column,
        }
        if self.time_end_column is not None:
            payload["timeEndColumn"] = self.time_end_column
        return payload


class AnnotationTarget(cogbuilder.Builder[dashboard.AnnotationTarget]):
    """Builder of an InfluxQL annotation target, for `AnnotationQuery().target(...)`.

    `time_end_column` names the column with an end time (ms) for a range; None marks a moment.
    """

    def __init__(self, query: str, time_end_column: str | None, text_column: str, tags_column: str):
        self._target = _AnnotationQuery(query, time_end_column, text_column, tags_column)

    def build(self) -> dashboard.AnnotationTarget:
        return self._target


def tag_values_variable(name: str, label: str, query: str) -> QueryVariable:
    """A variable whose options are the values of one tag (`SHOW TAG VALUES ...`)."""
    return (
        QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(dashboard.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dashboard.VariableSort.ALPHABETICAL_ASC)
    )


def where(*conditions: str) -> str:
    """Conditions joined with AND, each in parentheses when it has an OR."""
    return " AND ".join(f"({c})" if " OR " in c else c for c in conditions)


def number(value: float) -> str:
    """A constant as InfluxQL reads it: `6.0`, `-18.0`."""
    return repr(float(value))


def tag_in(tag: str, values: list[str]) -> str:
    """`"tag" =~ /^(a|b)$/`: the tag is one of `values` (escaped for the regex)."""
    escaped = [_escape_regex(v) for v in values]
    return f'"{tag}" =~ /^({"|".join(escaped)})$/'


def _escape_regex(value: str) -> str:
    return "".join(f"\\{c}" if c in r"\/.*+?|()[]{}^$" else c for c in value)
