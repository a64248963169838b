"""Job endpoints: submit, status, the caller's job list, cancel and delete."""
from __future__ import annotations

from aiohttp import web

from api.auth import caller
from api.context import ctx, job_urls, owned_job
from api.errors import ApiError
from api.limits import LIMITS
from api.submit import parse_submission
from shared import jobs, queue_order
from shared.config import Settings
from shared.engines import EngineUnavailable, UnknownEngine, UnknownVoice, get_engine
from shared.engines.base import AudioParams, Engine
from shared.store.finished import delete_finished
from shared.text import Document

routes = web.RouteTableDef()


def resolve_voice(settings: Settings, engine_name: str | None, voice: str | None, variant: str | None) -> tuple[Engine, AudioParams]:
    name = engine_name or settings.default_engine
    try:
        engine = get_engine(name, settings)
    except EngineUnavailable as exc:
        raise ApiError(422, "engine_unavailable", f"engine {name!r} is not available here: {exc.reason}") from exc
    except UnknownEngine as exc:
        raise ApiError(422, "unknown_engine", f"unknown engine {name!r}; see GET /v1/engines") from exc
    try:
        return engine, engine.params(voice, variant)
    except UnknownVoice as exc:
        raise ApiError(422, "unknown_voice", f"engine {name!r} has no voice {voice!r}; see GET /v1/engines") from exc


async def submit_job(request: web.Request, *, document: Document | None, engine_name: str | None, voice: str | None,
                     variant: str | None, speed: float = 1.0, source_url: str | None = None) -> str:
    """Store the job record and enqueue its article job; the shared path of every submit endpoint.

    A URL job (`source_url`, no document) is charged its job but no characters: its length is
    known only once the worker has read the page.
    """
    c = ctx(request)
    owner = caller(request, c.settings)
    engine, params = resolve_voice(c.settings, engine_name, voice, variant)
    await request.app[LIMITS].charge(owner, len(document.text) if document else 0)
    job_id = jobs.new_job_id()
    await jobs.create_job(c.redis, job_id=job_id, owner=owner, engine=engine.name, voice=params.voice,
                          variant=params.variant, document=document, speed=speed, source_url=source_url)
    await queue_order.enqueue_article(c.queue, job_id, fair=c.settings.job_window > 0)
    return job_id


@routes.post("/v1/jobs")
async def create(request: web.Request) -> web.Response:
    c = ctx(request)
    caller(request, c.settings)  # 401 before reading a body
    sub = await parse_submission(request, c.settings)
    job_id = await submit_job(request, document=sub.document, source_url=sub.url, engine_name=sub.engine,
                              voice=sub.voice, variant=sub.variant, speed=sub.speed)
    urls = job_urls(c.links, job_id)
    return web.json_response({"id": job_id, "status": "queued", **urls}, status=202,
                             headers={"Location": urls["status_url"]})


LIST_DEFAULT, LIST_MAX = 20, 100


@routes.get("/v1/jobs/{job_id}")
async def status(request: web.Request) -> web.Response:
    c = ctx(request)
    job = await owned_job(request)
    headers = {} if job.terminal else {"Retry-After": "1"}
    return web.json_response(jobs.job_summary(job, job_urls(c.links, job.id)), headers=headers)


def _list_params(request: web.Request) -> tuple[int, float | None]:
    raw_limit = request.query.get("limit", str(LIST_DEFAULT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= LIST_MAX:
        raise ApiError(400, "invalid_parameter", f"limit must be an integer from 1 to {LIST_MAX}")
    cursor = request.query.get("cursor")
    if cursor is None:
        return int(raw_limit), None
    try:
        before = float(cursor)
    except ValueError:
        before = float("nan")
    if not before > 0 or before == float("inf"):
        raise ApiError(400, "invalid_parameter", "cursor must be a next_cursor from a previous page")
    return int(raw_limit), before


@routes.get("/v1/jobs")
async def job_list(request: web.Request) -> web.Response:
    """The caller's jobs, newest first: `{"jobs": [status...], "next_cursor": str | null}`."""
    c = ctx(request)
    owner = caller(request, c.settings)
    limit, before = _list_params(request)
    found, next_before = await jobs.list_jobs(c.redis, owner, limit=limit, before=before)
    return web.json_response({
        "jobs": [jobs.job_summary(job, job_urls(c.links, job.id)) for job in found],
        "next_cursor": repr(next_before) if next_before is not None else None,
    })


async def _cancel(request: web.Request) -> web.Response:
    c = ctx(request)
    job = await owned_job(request)
    if await jobs.finish_job(c.redis, job.id, "cancelled"):
        await jobs.expire_job(c.redis, job.id, c.settings.job_ttl_s)
    job = await jobs.get_job(c.redis, job.id)
    if job is None:
        raise ApiError(404, "job_not_found", "no such job")
    return web.json_response(jobs.job_summary(job, job_urls(c.links, job.id)))


@routes.post("/v1/jobs/{job_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    return await _cancel(request)


@routes.delete("/v1/jobs/{job_id}")
async def delete(request: web.Request) -> web.Response:
    """A running job is cancelled (200, its status); a finished one is removed with its files (204)."""
    c = ctx(request)
    job = await owned_job(request)
    if not job.terminal:
        return await _cancel(request)
    await jobs.delete_job(c.redis, job)
    await delete_finished(c.storage, job.id)
    return web.Response(status=204)
