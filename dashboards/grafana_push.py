"""Provision a Grafana through its HTTP API with grafana-client: the InfluxDB datasource, a folder
and WardWatch's dashboards (create or overwrite, idempotent).

Endpoints used: ``GET/POST/PUT /api/datasources[/uid/{uid}]`` (only with an InfluxDB URL),
``GET/POST /api/folders[/{uid}]`` and ``POST /api/dashboards/db``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

from wardwatch.dashboards.grafana_dashboards import DASHBOARDS, dashboard_json
from wardwatch.dashboards.panels import DATASOURCE_UID
from wardwatch.errors import ConfigurationError, ServiceUnavailableError, WardWatchError

__all__ = ["PushResult", "push_dashboards", "datasource_body", "FOLDER_UID"]

logger = logging.getLogger(__name__)

FOLDER_UID = "wardwatch"


@dataclass
class PushResult:
    """What was provisioned: the datasource action and each dashboard's URL path."""

    datasource: str = "left alone"
    folder: str = "existing"
    dashboards: dict[str, str] = field(default_factory=dict)


def datasource_body(influx_url: str, database: str, uid: str = DATASOURCE_UID, user: str = "", password: str = "") -> dict[str, Any]:
    """The InfluxQL datasource Grafana should hold (the same as ``provisioning/datasources``)."""
    body: dict[str, Any] = {
        "uid": uid, "name": "WardWatch InfluxDB", "type": "influxdb", "access": "proxy", "url": influx_url,
        "database": database, "jsonData": {"dbName": database, "httpMode": "GET", "version": "InfluxQL"},
    }
    if user:
        body["user"] = user
        body["secureJsonData"] = {"password": password}
    return body


def _client(url: str, credential: str | tuple[str, str] | None, timeout_s: float) -> GrafanaApi:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError("--url", f"{url!r} is not an http(s) URL", "e.g. --url https://grafana.hospital.example")
    return GrafanaApi.from_url(url, credential=credential, timeout=timeout_s)


def _call(what: str, url: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except GrafanaUnauthorizedError as exc:
        raise WardWatchError(f"Grafana at {url} refused the credentials ({what}: HTTP 401); "
                             "pass a service-account token (--token) or --user/--password with Editor rights") from exc
    except GrafanaException as exc:
        if exc.status_code == 0:
            raise ServiceUnavailableError(f"could not reach Grafana at {url} ({what}): {exc.message}") from exc
        raise WardWatchError(f"Grafana at {url} answered HTTP {exc.status_code} to {what}: {exc.message}") from exc
    except (OSError, ConnectionError) as exc:
        raise ServiceUnavailableError(f"could not reach Grafana at {url} ({what}): {exc}") from exc
    except Exception as exc:  # niquests' connection errors are not OSError subclasses in every version
        if type(exc).__module__.startswith(("niquests", "urllib3")):
            raise ServiceUnavailableError(f"could not reach Grafana at {url} ({what}): {type(exc).__name__}: {exc}") from exc
        raise


def _absent(exc: GrafanaClientError) -> bool:
    return exc.status_code == 404


def push_dashboards(url: str, *, token: str = "", user: str = "", password: str = "", influx_url: str = "",
                    database: str = "wardwatch", influx_user: str = "", influx_password: str = "",
                    ds_uid: str = DATASOURCE_UID, timeout_s: float = 10.0) -> PushResult:
    """Create or overwrite WardWatch's folder and dashboards in the Grafana at ``url``; with
    ``influx_url`` also create or update the InfluxDB datasource ``ds_uid``.

    Raises :class:`~wardwatch.errors.WardWatchError` with what to do on a 401, any other refusal,
    or when Grafana does not answer.
    """
    credential: str | tuple[str, str] | None = token or ((user, password) if user else None)
    api = _client(url, credential, timeout_s)
    result = PushResult()
    if influx_url:
        body = datasource_body(influx_url, database, ds_uid, influx_user, influx_password)
        try:
            _call("reading the datasource", url, api.datasource.get_datasource_by_uid, ds_uid)
            _call("updating the datasource", url, api.datasource.update_datasource_by_uid, ds_uid, body)
            result.datasource = "updated"
        except WardWatchError as exc:
            if not isinstance(exc.__cause__, GrafanaClientError) or not _absent(exc.__cause__):
                raise
            _call("creating the datasource", url, api.datasource.create_datasource, body)
            result.datasource = "created"
    try:
        _call("reading the folder", url, api.folder.get_folder, FOLDER_UID)
    except WardWatchError as exc:
        if not isinstance(exc.__cause__, GrafanaClientError) or not _absent(exc.__cause__):
            raise
        _call("creating the folder", url, api.folder.create_folder, "WardWatch", uid=FOLDER_UID)
        result.folder = "created"
    for uid, build in DASHBOARDS.items():
        doc = dashboard_json(build(), ds_uid)
        doc["id"] = None
        answer = _call(f"saving dashboard {uid}", url, api.dashboard.update_dashboard,
                       {"dashboard": doc, "folderUid": FOLDER_UID, "overwrite": True,
                        "message": "wardwatch dashboards push"})
        result.dashboards[uid] = str(answer.get("url", "")) if isinstance(answer, dict) else ""
        logger.info("pushed dashboard %s to %s", uid, url)
    return result
