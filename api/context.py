"""What every handler reaches through `request.app[CTX]`."""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from arq.connections import ArqRedis
from redis.asyncio import Redis

from api.auth import caller
from api.errors import ApiError
from api.notifier import JobNotifier
from shared import jobs
from shared.config import Settings


@dataclass
class ApiContext:
    settings: Settings
    redis: Redis  # job records, stats
    cache_redis: Redis  # chunk audio
    queue: ArqRedis
    notifier: JobNotifier


CTX = web.AppKey("ctx", ApiContext)


def ctx(request: web.Request) -> ApiContext:
    return request.app[CTX]


async def owned_job(request: web.Request) -> jobs.Job:
    """The job named in the path if the caller owns it; 404 otherwise (never a hint it exists)."""
    c = ctx(request)
    job_id = request.match_info["job_id"]
    if not jobs.valid_job_id(job_id):
        raise ApiError(404, "job_not_found", "no such job")
    owner = caller(request, c.settings)
    job = await jobs.get_job(c.redis, job_id)
    if job is None or job.owner != owner:
        raise ApiError(404, "job_not_found", "no such job")
    return job


def job_urls(job_id: str) -> dict[str, str]:
    base = f"/v1/jobs/{job_id}"
    return {"status_url": base, "audio_url": f"{base}/audio", "events_url": f"{base}/events"}
