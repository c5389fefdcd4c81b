"""`datahub`: validate the catalog, materialize partitions, serve the API, or run everything (`up`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
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

    try:
        dg.Definitions.validate_loadable(build_definitions(loaded))
    except Exception as exc:  # a message, never a traceback
        raise click.ClickException(f"{path}: the definitions cannot be built: {type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    click.echo(
        f"{path}: ok ({len(loaded.sources)} sources, {len(loaded.series)} series, "
        f"{len(loaded.grids)} grids, {len(loaded.exports)} exports)"
    )


def parse_partitions(text: str, first: date | None = None, last: date | None = None) -> list[str]:
    """`2017-01-01`, an inclusive range `2017-01-01..2017-01-07`, or `all` (every partition: `first..last`)."""
    if text.strip().lower() == "all":
        if first is None or last is None:
            raise click.BadParameter("'all' needs the catalog's partitions")
        text = f"{first.isoformat()}..{last.isoformat()}"
    head, _, tail = text.partition("..")
    try:
        start, end = date.fromisoformat(head), date.fromisoformat(tail or head)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a day, a range DAY..DAY or 'all'") from None
    if end < start:
        raise click.BadParameter(f"{text!r}: the range ends before it starts")
    if first is not None and last is not None and (start < first or end > last):
        raise click.BadParameter(f"{text!r}: the catalog's partitions are {first.isoformat()}..{last.isoformat()}")
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


BAR_FROM = 4  # partitions: from this many on, a terminal also shows a progress bar


@main.command()
@click.option("--select", "selection", default="*", show_default=True,
              help="Asset selection, e.g. '*', 'key:raw/*', 'group:grids'.")
@click.option("--partition", "partitions", required=True,
              help="A day, DAY..DAY inclusive, or 'all' (every partition of the catalog).")
@click.option("--parallel", default=1, show_default=True, type=click.IntRange(1, 32),
              help="Runs at once; above 1 each run uses Dagster's multiprocess executor.")
def materialize(selection: str, partitions: str, parallel: int) -> None:
    """Materialize assets for daily partitions, one run per day, recorded in the instance.

    Prints one line per partition (its status, steps, time and run id; failing steps below it)."""
    from datahub_assets.instance import prepare_home
    from datahub_assets.materialize import materialize_partitions
    from resources.catalog import CatalogError, load_catalog
    from resources.settings import Settings

    try:
        bounds = load_catalog(Settings().catalog).partitions
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    days = parse_partitions(partitions, bounds.start, bounds.last(datetime.now(UTC).date()))
    prepare_home()
    bar = len(days) >= BAR_FROM and sys.stdout.isatty()
    with click.progressbar(length=len(days), label="partitions", show_pos=True, hidden=not bar) as progress:
        def line(text: str) -> None:
            click.echo(("\r\033[K" if bar else "") + text)
            progress.update(1)

        failed = materialize_partitions(selection, days, echo=line, parallel=parallel)
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(days)} partitions failed: {', '.join(failed)}")
    click.echo(f"{len(days)} partition(s) materialized")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="API worker processes (uvicorn); metrics are summed across them.")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API (uvicorn)."""
    from datahub_assets.instance import prepare_home

    home = prepare_home()
    os.execve(_bin("uvicorn"), api_command(host, port, workers), api_env(workers, port, home))


def api_command(host: str, port: int, workers: int, log_level: str | None = None) -> list[str]:
    cmd = [_bin("uvicorn"), "--factory", "api.app:create_app", "--host", host, "--port", str(port)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    return cmd + (["--log-level", log_level] if log_level else [])


def api_env(workers: int, port: int, home: Path) -> dict[str, str]:
    """With several workers, Prometheus' multiprocess mode: each worker writes its counts to a shared folder,
    and /metrics sums them. The folder is the port's own in the instance home, emptied at each start (an
    earlier server's counts are not this one's), so starts never pile folders up."""
    env = dict(os.environ)
    if workers > 1:
        import shutil

        folder = home / "api-metrics" / str(port)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return env


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, help="Dagster UI port.")
@click.option("--api-port", default=8000, show_default=True)
@click.option("--api-workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="API worker processes.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              help="Log level of the Dagster services and the API server.")
def up(host: str, port: int, api_port: int, api_workers: int, log_level: str) -> None:
    """The Dagster UI (with its daemon: schedules, sensors, the run queue) and the API side by side.

    Prints one line when both answer; Ctrl-C stops both."""
    from datahub_assets.instance import prepare_home

    home = prepare_home()
    commands = [
        [_bin("dagster"), "dev", "-w", str(ROOT / "workspace.yaml"), "-h", host, "-p", str(port),
         "--log-level", log_level],
        api_command(host, api_port, api_workers, log_level),
    ]
    stopping: list[int] = []
    # Explicit handlers: a shell may start us with SIGINT ignored (in the background), Ctrl-C must still work.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    # `dagster dev -w workspace.yaml` is the documented way to serve this layout; its note that `dg dev`
    # supersedes it is not for our users.
    env = {**api_env(api_workers, api_port, home), "PYTHONWARNINGS": "ignore:Function `dev_command` is superseded"}
    children = [subprocess.Popen(c, cwd=ROOT, env=env, start_new_session=True) for c in commands]
    probes = [f"http://{host}:{port}/server_info", f"http://{host}:{api_port}/health"]
    ready = False
    try:
        while not stopping and all(c.poll() is None for c in children):
            if not ready and all(_answers(url) for url in probes):
                ready = True
                click.echo(f"ready: Dagster UI http://{host}:{port}   API http://{host}:{api_port}/docs   "
                           "(Ctrl-C stops both)")
            time.sleep(0.5)
    finally:
        for child in children:
            _stop(child)
    codes = [c.returncode for c in children]
    if any(code not in (0, None, -signal.SIGTERM, -signal.SIGKILL) for code in codes):
        sys.exit(1)


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


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
