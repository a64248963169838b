"""The aiohttp application: routes, middleware, and the connections it holds."""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from redis.asyncio import Redis

from api import audio, events, feed, jobs, openai_compat
from api.auth import require_key, set_signature_check, signed_request_ok
from api.cleaner_pool import close_pool
from api.context import CTX, ApiContext, ctx
from api.errors import json_errors
from api.feed import FEED_ROUTE
from api.limits import LIMITS, Limits
from api.links import LinkSigner, load_secret
from api.metrics import setup_metrics
from api.notifier import JobNotifier
from api.openapi import setup_pages
from api.stats import cluster_stats
from api.submit import cleaner
from shared.config import Settings
from shared.engines import close_engines, engine_names, engine_status, get_engine, mark_unavailable
from shared.liveness import live_workers
from shared.redis_conn import api_queue, connect_api, connect_listener
from shared.store import open_storage
from shared.store.cache import ChunkCache

log = logging.getLogger("readout.api")
routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    c = ctx(request)
    try:
        await asyncio.wait_for(c.redis.ping(), 2)
        workers = await live_workers(c.redis)
    except Exception as exc:
        return web.json_response({"status": "unavailable", "redis": False, "error": type(exc).__name__}, status=503)
    ready = workers > 0
    return web.json_response({"status": "ok" if ready else "no_workers", "redis": True, "workers": workers},
                             status=200 if ready else 503)


@routes.get("/v1/engines")
async def engines_list(request: web.Request) -> web.Response:
    """Every known engine; one that cannot run here has `"available": false` and the reason."""
    settings = ctx(request).settings
    body = []
    for status in engine_status(settings):
        entry = {"name": status.name, "available": status.available, "reason": status.reason or None,
                 "default": status.name == settings.default_engine,
                 "max_chars": 0, "default_voice": "", "voices": []}
        if status.available:
            engine = get_engine(status.name, settings)
            entry.update({
                "max_chars": min(engine.max_chars, settings.chunk_max_chars),
                "default_voice": engine.default_voice(),
                "voices": [{"id": v.id, "name": v.name, "language": v.language} for v in engine.voices()],
            })
        body.append(entry)
    return web.json_response({"engines": body})


@routes.get("/v1/stats")
async def stats_view(request: web.Request) -> web.Response:
    c = ctx(request)
    return web.json_response(await cluster_stats(c.redis, c.queue, c.settings))


async def _startup(app: web.Application) -> None:
    settings = app[SETTINGS]
    redis = connect_api(app[REDIS_URL], settings)
    cache_redis = connect_api(settings.cache_url, settings) if settings.cache_url else redis
    queue = api_queue(app[REDIS_URL], settings)
    app[LISTENER] = connect_listener(app[REDIS_URL])
    notifier = JobNotifier(app[LISTENER])
    await notifier.start()
    storage = open_storage(settings)
    app[CTX] = ApiContext(settings=settings, redis=redis, cache_redis=cache_redis, queue=queue, notifier=notifier,
                          storage=storage, cache=ChunkCache(storage),
                          links=LinkSigner(load_secret(settings), settings.link_ttl_s))
    app[LIMITS] = Limits(redis, settings)
    cleaner(settings)  # cleaner processes start now, not on the first submission
    await _resolve_engines(settings)


async def _resolve_engines(settings: Settings) -> None:
    """Resolve each usable engine's default voice once, off the loop (Piper hashes its model,
    espeak lists its voices); one that fails is taken out of service, never the API down."""
    for status in engine_status(settings):
        if not status.available:
            log.info("engine unavailable", extra={"engine": status.name, "reason": status.reason})
    for name in engine_names(settings):
        try:
            await asyncio.to_thread(get_engine(name, settings).params, None, None)
        except Exception as exc:  # whatever breaks an engine here must not stop the API
            mark_unavailable(name, f"failed to start: {exc}")
            log.warning("engine unavailable", extra={"engine": name, "reason": str(exc)})


async def _cleanup(app: web.Application) -> None:
    await close_pool()
    c = app[CTX]
    await c.notifier.stop()
    await c.queue.aclose()
    await c.storage.close()
    if c.cache_redis is not c.redis:
        await c.cache_redis.aclose()
    await c.redis.aclose()
    await app[LISTENER].aclose()
    await close_engines()


SETTINGS = web.AppKey("settings", Settings)
REDIS_URL = web.AppKey("redis_url", str)
LISTENER = web.AppKey("listener", Redis)  # the notifier's pub/sub client (no read timeout)


async def _signed(request: web.Request) -> str | None:
    """Requests that carry their own proof instead of a key: a signed job link, or a feed URL
    (whose handler checks its token and answers 404 for a wrong one). A path that names no job
    takes no signed link: it needs the key (401), whatever the query carries."""
    if request.match_info.route.name == FEED_ROUTE:
        return "feed"
    if "job_id" not in request.match_info:
        return None
    return "signed-link" if signed_request_ok(request, ctx(request).links) else None


def create_app(settings: Settings, redis_url: str) -> web.Application:
    app = web.Application(middlewares=[json_errors, require_key(settings)], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[REDIS_URL] = redis_url
    app.add_routes(routes)
    app.add_routes(jobs.routes)
    app.add_routes(audio.routes)
    app.add_routes(events.routes)
    app.add_routes(feed.routes)
    app.add_routes(openai_compat.routes)
    setup_pages(app)
    setup_metrics(app)
    set_signature_check(app, _signed)
    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    return app
