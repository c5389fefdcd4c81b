"""`datahub`: validate the catalog, materialize partitions, serve the API, or run everything (`up`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent


@click.group()
def main() -> None:
    """DataHub: time series from many sources, aligned on one grid."""


@main.command()
@click.option("--catalog", type=click.Path(dir_okay=False), help="Catalog file (default: DATAHUB_CATALOG or the demo).")
def validate(catalog: str | None) -> None:
    """Check the catalog and the definitions built from it."""
    from resources.catalog import CatalogError, load_catalog
    from resources.settings import Settings

    path = Path(catalog) if catalog else Settings().catalog
    try:
        loaded = load_catalog(path)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    import dagster as dg

    from datahub_assets.definitions import build_definitions

    dg.Definitions.validate_loadable(build_definitions(loaded))
    click.echo(
        f"{path}: ok ({len(loaded.sources)} sources, {len(loaded.series)} series, "
        f"{len(loaded.grids)} grids, {len(loaded.exports)} exports)"
    )


def parse_partitions(text: str) -> list[str]:
    """`2017-01-01` or an inclusive range `2017-01-01..2017-01-07`."""
    first, _, last = text.partition("..")
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last or first)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a day or a range DAY..DAY") from None
    if end < start:
        raise click.BadParameter(f"{text!r}: the range ends before it starts")
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


@main.command()
@click.option("--select", "selection", default="*", show_default=True,
              help="Asset selection, e.g. '*', 'key:raw/*', 'group:grids'.")
@click.option("--partition", "partitions", required=True, help="A day, or DAY..DAY inclusive.")
def materialize(selection: str, partitions: str) -> None:
    """Materialize assets for daily partitions, one run per day, recorded in the instance."""
    from datahub_assets.instance import prepare_home
    from datahub_assets.materialize import materialize_partitions

    prepare_home()
    days = parse_partitions(partitions)
    failed = materialize_partitions(selection, days, echo=click.echo)
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(days)} partitions failed: {', '.join(failed)}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the API (uvicorn)."""
    from datahub_assets.instance import prepare_home

    prepare_home()
    os.execv(_bin("uvicorn"), [_bin("uvicorn"), "--factory", "api.app:create_app", "--host", host,
                               "--port", str(port)])


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, help="Dagster UI port.")
@click.option("--api-port", default=8000, show_default=True)
def up(host: str, port: int, api_port: int) -> None:
    """The Dagster UI and the API side by side; Ctrl-C stops both."""
    from datahub_assets.instance import prepare_home

    prepare_home()
    commands = [
        [_bin("dagster"), "dev", "-w", str(ROOT / "workspace.yaml"), "-h", host, "-p", str(port)],
        [_bin("uvicorn"), "--factory", "api.app:create_app", "--host", host, "--port", str(api_port)],
    ]
    stopping: list[int] = []
    # Explicit handlers: a shell may start us with SIGINT ignored (in the background), Ctrl-C must still work.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    children = [subprocess.Popen(c, cwd=ROOT, start_new_session=True) for c in commands]
    click.echo(f"Dagster UI: http://{host}:{port}   API: http://{host}:{api_port}/docs   (Ctrl-C stops both)")
    try:
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.5)
    finally:
        for child in children:
            _stop(child)
    codes = [c.returncode for c in children]
    if any(code not in (0, None, -signal.SIGTERM, -signal.SIGKILL) for code in codes):
        sys.exit(1)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)
