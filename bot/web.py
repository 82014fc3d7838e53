"""The aiohttp web app: Slack endpoint, CI callbacks, health, readiness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from slack_bolt.adapter.aiohttp import to_aiohttp_response

from bot.ci_hooks import deployment_hook
from bot.runtime import Runtime
from bot.slack_request import bolt_request

RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)


def build_web_app(runtime: Runtime) -> web.Application:
    registry = CollectorRegistry()
    slack_requests = Counter(
        "releasebot_slack_requests", "Requests received on /slack/events", ["status"], registry=registry
    )

    async def slack_events(request: web.Request) -> web.Response:
        bolt_req = bolt_request(await request.text(), request.headers, request.query_string)
        bolt_response = await runtime.bolt.async_dispatch(bolt_req)
        slack_requests.labels(status=str(bolt_response.status)).inc()
        return await to_aiohttp_response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ok, detail = await runtime.ready()
        return web.json_response({"status": "ok" if ok else "unavailable", "detail": detail}, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app[RUNTIME] = runtime
    if runtime.signing_secret is not None:  # Socket Mode may run without one: nothing could verify a request
        app.router.add_post("/slack/events", slack_events)
    app.router.add_post("/hooks/deployments/{reference}", deployment_hook(runtime))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
