"""Job endpoints: submit, status, cancel."""
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


async def submit_job(request: web.Request, *, text: str, engine_name: str | None, voice: str | None,
                     variant: str | None) -> str:
    """Store the job record and enqueue its article job; the shared path of every submit endpoint."""
    c = ctx(request)
    owner = caller(request, c.settings)
    engine, params = resolve_voice(c.settings, engine_name, voice, variant)
    await request.app[LIMITS].charge(owner, len(text))
    job_id = jobs.new_job_id()
    await jobs.create_job(c.redis, job_id=job_id, owner=owner, engine=engine.name, voice=params.voice,
                          variant=params.variant, text=text)
    await queue_order.enqueue_article(c.queue, job_id, fair=c.settings.job_window > 0)
    return job_id


@routes.post("/v1/jobs")
async def create(request: web.Request) -> web.Response:
    c = ctx(request)
    caller(request, c.settings)  # 401 before reading a body
    sub = await parse_submission(request, c.settings)
    job_id = await submit_job(request, text=sub.text, engine_name=sub.engine, voice=sub.voice, variant=sub.variant)
    urls = job_urls(job_id)
    return web.json_response({"id": job_id, "status": "queued", **urls}, status=202,
                             headers={"Location": urls["status_url"]})


@routes.get("/v1/jobs/{job_id}")
async def status(request: web.Request) -> web.Response:
    job = await owned_job(request)
    body = jobs.job_summary(job, job_urls(job.id)["audio_url"])
    headers = {} if job.terminal else {"Retry-After": "1"}
    return web.json_response(body, headers=headers)


@routes.delete("/v1/jobs/{job_id}")
async def cancel(request: web.Request) -> web.Response:
    c = ctx(request)
    job = await owned_job(request)
    if await jobs.finish_job(c.redis, job.id, "cancelled"):
        await jobs.expire_job(c.redis, job.id, c.settings.job_ttl_s)
    job = await jobs.get_job(c.redis, job.id)
    assert job is not None
    return web.json_response(jobs.job_summary(job, job_urls(job.id)["audio_url"]))

