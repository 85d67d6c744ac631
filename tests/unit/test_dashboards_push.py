"""``wardwatch dashboards push`` against a real HTTP peer: an aiohttp server in a thread that
implements the few Grafana API endpoints push uses and keeps what it received."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner

from wardwatch.cli import cli
from wardwatch.dashboards.grafana_push import FOLDER_UID, push_dashboards
from wardwatch.errors import ServiceUnavailableError, WardWatchError

TOKEN = "glsa_test_token_0123456789"


class FakeGrafana:
    """Grafana's datasource, folder and dashboard endpoints, in memory, behind bearer-token auth."""

    def __init__(self) -> None:
        self.datasources: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/api/datasources/uid/{uid}", self._get_ds)
        app.router.add_put("/api/datasources/uid/{uid}", self._put_ds)
        app.router.add_post("/api/datasources", self._post_ds)
        app.router.add_get("/api/folders/{uid}", self._get_folder)
        app.router.add_post("/api/folders", self._post_folder)
        app.router.add_post("/api/dashboards/db", self._post_dashboard)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        self.loop.run_forever()

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        return await handler(request)

    async def _get_ds(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        if uid not in self.datasources:
            return web.json_response({"message": "Data source not found"}, status=404)
        return web.json_response(self.datasources[uid])

    async def _put_ds(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.datasources[request.match_info["uid"]] = body
        return web.json_response({"message": "Datasource updated"})

    async def _post_ds(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.datasources[body["uid"]] = body
        return web.json_response({"message": "Datasource added", "id": 1})

    async def _get_folder(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        if uid not in self.folders:
            return web.json_response({"message": "folder not found"}, status=404)
        return web.json_response(self.folders[uid])

    async def _post_folder(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.folders[body["uid"]] = body
        return web.json_response({"uid": body["uid"], "title": body["title"]})

    async def _post_dashboard(self, request: web.Request) -> web.Response:
        body = await request.json()
        uid = body["dashboard"]["uid"]
        self.dashboards[uid] = body
        return web.json_response({"status": "success", "uid": uid, "url": f"/d/{uid}/x", "version": 1})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        if not self.thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    server = FakeGrafana()
    yield server
    server.close()


def test_push_creates_folder_datasource_and_every_dashboard(grafana: FakeGrafana) -> None:
    result = push_dashboards(grafana.url, token=TOKEN, influx_url="http://influx.ward:8086", database="wardwatch")
    assert (result.datasource, result.folder) == ("created", "created")
    assert set(result.dashboards) == {"wardwatch-ward", "wardwatch-patient", "wardwatch-operations"}
    ds = grafana.datasources["wardwatch-influxdb"]
    assert (ds["type"], ds["url"], ds["jsonData"]["dbName"], ds["jsonData"]["version"]) == \
        ("influxdb", "http://influx.ward:8086", "wardwatch", "InfluxQL")
    assert grafana.folders[FOLDER_UID]["title"] == "WardWatch"
    for uid, body in grafana.dashboards.items():
        assert body["overwrite"] is True and body["folderUid"] == FOLDER_UID
        assert body["dashboard"]["id"] is None
        targets = [t for p in body["dashboard"]["panels"] for t in p["targets"]]
        assert targets and all(t["datasource"]["uid"] == "wardwatch-influxdb" and t["rawQuery"] for t in targets)
    # again: updated in place, nothing duplicated
    again = push_dashboards(grafana.url, token=TOKEN, influx_url="http://influx.ward:8086", database="wardwatch")
    assert (again.datasource, again.folder) == ("updated", "existing")
    assert len(grafana.dashboards) == 3 and len(grafana.datasources) == 1


def test_push_without_datasource_and_with_another_datasource_uid(grafana: FakeGrafana) -> None:
    push_dashboards(grafana.url, token=TOKEN, ds_uid="hospital-influx")
    assert grafana.datasources == {}
    assert not any(path.startswith("/api/datasources") for _, path in grafana.requests)
    panels = grafana.dashboards["wardwatch-ward"]["dashboard"]["panels"]
    assert {t["datasource"]["uid"] for p in panels for t in p["targets"]} == {"hospital-influx"}


def test_bad_token_is_a_clear_401_error(grafana: FakeGrafana) -> None:
    with pytest.raises(WardWatchError, match="refused the credentials.*401.*--token"):
        push_dashboards(grafana.url, token="wrong")
    assert grafana.dashboards == {}


def test_unreachable_grafana_and_bad_url(grafana: FakeGrafana) -> None:
    closed = grafana.url
    grafana.close()
    with pytest.raises(ServiceUnavailableError, match="could not reach Grafana at http://127.0.0.1"):
        push_dashboards(closed, token=TOKEN, timeout_s=2)
    with pytest.raises(WardWatchError, match="--url.*not an http"):
        push_dashboards("grafana.local:3000", token=TOKEN)


def test_cli_push_and_its_errors(grafana: FakeGrafana) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["dashboards", "push", "--url", grafana.url, "--token", TOKEN, "--with-datasource"])
    assert ok.exit_code == 0, ok.output
    assert "datasource: created" in ok.output and f"{grafana.url}/d/wardwatch-ward/x" in ok.output
    assert grafana.datasources["wardwatch-influxdb"]["url"] == "http://127.0.0.1:8086"
    bad = runner.invoke(cli, ["dashboards", "push", "--url", grafana.url, "--token", "nope"])
    assert bad.exit_code == 1 and "401" in bad.output and "Traceback" not in bad.output
    assert json.dumps(grafana.dashboards)  # what Grafana received is plain JSON
