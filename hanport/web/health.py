"""``/healthz`` (the process answers) and ``/readyz`` (the database answers, its schema is
current)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz")
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    engine = request.app.state.engine
    problem = await engine.call(engine.ready)
    if problem is None:
        return Response({"status": "ready"})
    return Response({"status": "not ready", "reason": problem}, status_code=503)
