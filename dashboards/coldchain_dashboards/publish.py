"""Push the built dashboards into a running Grafana through its HTTP API (grafana-client).

For a Grafana that does not load `dashboards/` from files (compose.yaml provisions
them; Grafana refuses API updates of provisioned dashboards). The dashboards go into
one folder per language, "coldchain (Deutsch)" and "coldchain (English)", as
provisioning puts them; the target Grafana needs the InfluxDB data source with the
uid the dashboards refer to.
"""

from __future__ import annotations

from typing import Any

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException
from niquests.exceptions import RequestException

from coldchain_dashboards.build import language_of
from coldchain_dashboards.errors import PublishFailed
from coldchain_dashboards.influxql import DATASOURCE_UID
from coldchain_dashboards.language import Language, folder


def folder_uid(lang: Language) -> str:
    return f"coldchain-{lang}"


def publish(boards: dict[str, dict[str, Any]], url: str, token: str) -> list[str]:
    """Create or overwrite every dashboard (by path, as `build` gives them) in the folder
    of its language; returns their URLs."""
    api = GrafanaApi.from_url(url, credential=token)
    try:
        _require_datasource(api)
        languages = sorted({language_of(name) for name in boards})
        for lang in languages:
            _ensure_folder(api, lang)
        urls = []
        for name, board in boards.items():
            payload = {
                "dashboard": {**board, "id": None},
                "folderUid": folder_uid(language_of(name)),
                "overwrite": True,
                "message": "coldchain-dashboards publish",
            }
            answer = api.dashboard.update_dashboard(payload)
            urls.append(str(answer.get("url", board["uid"])))
        return urls
    except GrafanaException as exc:
        raise PublishFailed(f"Grafana at {url} refused: {exc}") from exc
    except RequestException as exc:
        raise PublishFailed(f"cannot reach Grafana at {url}: {exc}; check --url") from exc


def _require_datasource(api: GrafanaApi) -> None:
    try:
        api.datasource.get_datasource_by_uid(DATASOURCE_UID)  # type: ignore[no-untyped-call]
    except GrafanaClientError as exc:
        if exc.status_code in (401, 403):
            raise PublishFailed(
                f"Grafana refused the token ({exc.status_code}): give a service-account "
                "token with the Editor role"
            ) from exc
        raise PublishFailed(
            f"Grafana has no data source with uid {DATASOURCE_UID!r}: add the InfluxDB data "
            "source as in deploy/grafana/provisioning/datasources/influxdb.yaml"
        ) from exc


def _ensure_folder(api: GrafanaApi, lang: Language) -> None:
    uid = folder_uid(lang)
    try:
        api.folder.get_folder(uid)  # type: ignore[no-untyped-call]
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.folder.create_folder(folder(lang), uid=uid)  # type: ignore[no-untyped-call]
