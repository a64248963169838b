"""`GET /v1/jobs/{id}/events`: server-sent events for one job.

First a `progress` event with the current state (so a late subscriber is never behind),
then one `progress` event per landed chunk or change of status (`fetching`, `running`), and
finally `done`, `failed` or `cancelled`, after which the stream ends. Each event's data is the
job's status JSON. A stream whose job shows no progress for READOUT_STREAM_IDLE_TIMEOUT is cut
(as is one whose store fails).
"""
from __future__ import annotations

import json
import time

from aiohttp import web
from aiohttp_sse import sse_response

from api.context import ctx, job_urls, owned_job
from api.errors import cut_response
from shared import jobs

routes = web.RouteTableDef()
RECHECK_S = 2.0


@routes.get("/v1/jobs/{job_id}/events")
async def events(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    job = await owned_job(request)
    urls = job_urls(c.links, job.id)
    async with c.notifier.watch(job.id) as watcher, sse_response(request) as sse:
        last_done, last_status = -1, ""
        moved = time.monotonic()
        while True:
            current = await jobs.get_job(c.redis, job.id)
            if current is None:
                break
            if time.monotonic() - moved > c.settings.stream_idle_s:
                cut_response(request, "no progress")
                return sse
            if current.done != last_done or current.status != last_status or current.terminal:
                last_done, last_status = current.done, current.status
                moved = time.monotonic()
                body = json.dumps(jobs.job_summary(current, urls))
                await sse.send(body, event=current.status if current.terminal else "progress")
            if current.terminal:
                break
            await watcher.next(timeout=RECHECK_S)
    return sse
