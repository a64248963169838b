"""What every handler reaches through `request.app[CTX]`."""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from arq.connections import ArqRedis
from redis.asyncio import Redis

from api.auth import caller, signed_request_ok
from api.errors import ApiError
from api.links import LinkSigner
from api.notifier import JobNotifier
from shared import jobs
from shared.config import Settings
from shared.store import Storage
from shared.store.cache import ChunkCache


@dataclass
class ApiContext:
    settings: Settings
    redis: Redis  # job records, stats
    cache_redis: Redis  # chunk locks
    queue: ArqRedis
    notifier: JobNotifier
    storage: Storage  # chunk audio, finished files
    cache: ChunkCache
    links: LinkSigner


CTX = web.AppKey("ctx", ApiContext)


def ctx(request: web.Request) -> ApiContext:
    return request.app[CTX]


async def owned_job(request: web.Request) -> jobs.Job:
    """The job named in the path if the caller owns it, or a signed link names it; 404 otherwise.

    Never a hint that another key's job exists.
    """
    c = ctx(request)
    job_id = request.match_info["job_id"]
    if not jobs.valid_job_id(job_id):
        raise ApiError(404, "job_not_found", "no such job")
    signed = signed_request_ok(request, c.links)
    owner = None if signed else caller(request, c.settings)
    job = await jobs.get_job(c.redis, job_id)
    if job is None or (not signed and job.owner != owner):
        raise ApiError(404, "job_not_found", "no such job")
    return job


SIGNED_PATHS = {"audio_url": "audio", "events_url": "events", "captions_url": "captions.vtt",
                "srt_url": "captions.srt", "marks_url": "marks.json"}


def job_urls(links: LinkSigner, job_id: str) -> dict[str, str]:
    """The job's URLs: status (needs the key), the rest signed (work without it until they expire)."""
    base = f"/v1/jobs/{job_id}"
    return {"status_url": base, **{name: links.sign(job_id, f"{base}/{tail}") for name, tail in SIGNED_PATHS.items()}}


def public_base(request: web.Request, settings: Settings) -> str:
    """Scheme and host for absolute URLs: READOUT_PUBLIC_URL, else the request (proxy headers if trusted)."""
    if settings.public_url:
        return settings.public_url
    scheme, host = request.scheme, request.host
    if settings.trust_proxy:
        scheme = request.headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip() or scheme
        host = request.headers.get("X-Forwarded-Host", host).split(",")[0].strip() or host
    return f"{scheme}://{host}"
