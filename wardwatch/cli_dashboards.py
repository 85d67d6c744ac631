"""CLI commands: ``wardwatch dashboards export|push|check`` (Grafana dashboards as code, issue 8).

The ward page's command (``wardwatch ward ...``) registers beside this group.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

__all__ = ["register"]

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(context_settings=_CONTEXT)
def dashboards() -> None:
    """Grafana dashboards as code: export the JSON, push it to a Grafana, check every query."""


@dashboards.command("export", context_settings=_CONTEXT)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("dashboards/json"),
              show_default=True, help="Folder to write <uid>.json into.")
@click.option("--datasource-uid", default=None, help="uid of the InfluxDB datasource in your Grafana [default: wardwatch-influxdb].")
def export(out_dir: Path, datasource_uid: str | None) -> None:
    """Write each dashboard's JSON (ward overview, patient detail, operations)."""
    from wardwatch.dashboards.grafana_dashboards import export_all
    from wardwatch.dashboards.panels import DATASOURCE_UID

    for path in export_all(out_dir, datasource_uid or DATASOURCE_UID):
        click.echo(str(path))


@dashboards.command("push", context_settings=_CONTEXT)
@click.option("--url", required=True, envvar="WARDWATCH_GRAFANA_URL", show_envvar=True, help="Grafana's base URL.")
@click.option("--token", default="", envvar="WARDWATCH_GRAFANA_TOKEN", show_envvar=True,
              help="Service-account token (Editor); or --user/--password.")
@click.option("--user", default="", envvar="WARDWATCH_GRAFANA_USER", show_envvar=True, help="Grafana user (basic auth).")
@click.option("--password", default="", envvar="WARDWATCH_GRAFANA_PASSWORD", show_envvar=True, help="Grafana password.")
@click.option("--with-datasource/--no-datasource", default=False, show_default=True,
              help="Also create/update the InfluxDB datasource from WARDWATCH_INFLUX_* settings.")
@click.option("--datasource-uid", default=None, help="uid of the InfluxDB datasource [default: wardwatch-influxdb].")
def push(url: str, token: str, user: str, password: str, with_datasource: bool, datasource_uid: str | None) -> None:
    """Provision a Grafana through its HTTP API: folder 'WardWatch' and the dashboards (overwritten)."""
    from wardwatch.config import load_settings
    from wardwatch.dashboards.grafana_push import push_dashboards
    from wardwatch.dashboards.panels import DATASOURCE_UID
    from wardwatch.errors import WardWatchError

    influx = load_settings().influx
    try:
        result = push_dashboards(
            url, token=token, user=user, password=password, ds_uid=datasource_uid or DATASOURCE_UID,
            influx_url=influx.url if with_datasource else "", database=influx.database,
            influx_user=influx.username, influx_password=influx.password.get_secret_value(),
        )
    except WardWatchError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"datasource: {result.datasource}; folder 'WardWatch': {result.folder}")
    for uid, path in result.dashboards.items():
        click.echo(f"{uid}  {url.rstrip('/')}{path}")


@dashboards.command("check", context_settings=_CONTEXT)
@click.option("--ward", default=None, help="Ward to check [default: WARDWATCH_WARD_NAME].")
@click.option("--since", default=3600, show_default=True, type=click.IntRange(min=60), help="Seconds back from now.")
def check(ward: str | None, since: int) -> None:
    """Run every panel's query against WardWatch's InfluxDB; list those that return no rows."""
    from wardwatch.agents.influx import InfluxWriter
    from wardwatch.config import load_settings
    from wardwatch.dashboards.query_check import run_dashboard_queries

    settings = load_settings()
    writer = InfluxWriter(settings.influx)
    now = time.time_ns()
    results = run_dashboard_queries(writer, ward or settings.ward.name, now - since * 1_000_000_000, now + 600_000_000_000)
    empty = 0
    for r in results:
        status = "error: " + r.error if r.error else (f"{r.rows} rows" if r.rows else "NO ROWS")
        empty += not r.rows
        click.echo(f"{r.dashboard:<22} {r.what:<60} {status}")
    if empty:
        raise click.ClickException(f"{empty} of {len(results)} queries returned no rows")


def register(cli: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    cli.add_command(dashboards)
    from wardwatch.dashboards.ward.cli import ward_group

    cli.add_command(ward_group)  # wardwatch ward serve (the ward page)
