"""``hanport serve``: the customer web intake (Litestar under uvicorn)."""

from __future__ import annotations

import os
import tempfile
import threading

import click

from hanport.entrypoints.cli.context import CliState, pass_state


@click.command(
    "serve",
    help="Serve the customer web intake (order, swap, close, status pages) on the database; "
    "/healthz and /readyz on the public port, Prometheus metrics on --metrics-port only.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Public port.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (several on PostgreSQL).",
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Port of the metrics listener (none: no metrics listener).",
)
@pass_state
def group(state: CliState, host: str, port: int, workers: int, metrics_port: int | None) -> None:
    from hanport.web import settings as web_settings

    app = state.app()  # checks the database and its schema before any worker starts
    web = web_settings.load()
    os.environ[web_settings.CSRF_SECRET_ENV] = web.csrf_secret  # one secret for all workers
    os.environ["HANPORT_DATABASE_URL"] = app.settings.database_url
    folder = tempfile.mkdtemp(prefix="hanport-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    if metrics_port is not None:
        _metrics(app, host, metrics_port, folder)
    if web.process_every > 0:
        _processor(app, web.process_every)
    import uvicorn

    uvicorn.run(
        "hanport.web.app:from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        proxy_headers=bool(web.trusted_proxies),
        forwarded_allow_ips=",".join(web.trusted_proxies) or None,
        log_level="warning",
    )


def _metrics(app: object, host: str, port: int, folder: str) -> None:
    from prometheus_client import start_http_server

    from hanport.web.engine import Engine
    from hanport.web.metrics import EngineGauges, listener_registry

    engine = Engine(app)  # type: ignore[arg-type]
    registry = listener_registry(folder, EngineGauges(engine.gauges, engine.backlog))
    start_http_server(port, addr=host, registry=registry)


def _processor(app: object, every: float) -> None:
    """The server's own intake pass, in this (the supervising) process only."""
    from hanport.web.engine import Engine

    engine = Engine(app)  # type: ignore[arg-type]
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                engine.process_intakes()
            except Exception as exc:  # the next pass retries; the form never waits on this
                click.echo(f"intake pass failed: {exc.__class__.__name__}", err=True)

    threading.Thread(target=loop, name="intake-pass", daemon=True).start()
