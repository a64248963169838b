"""`GET /v1/jobs/{id}/audio`: stream while the job runs, serve with ranges once it is done.

While running, chunk 0's bytes go out the moment chunk 0 lands, then each next chunk in
order. A job that fails or is cancelled mid-stream gets its connection cut without the
closing chunk of the chunked encoding, so no client mistakes a partial file for a whole.
Once done, the file is the chunks' bytes in order (cached pieces carry no ID3/Xing header,
see shared.synthesis), served piece by piece with Content-Length, a strong ETag and Range.
"""
from __future__ import annotations

import hashlib
import re
import time

from aiohttp import web

from api.context import ApiContext, ctx, owned_job
from api.errors import JOB_ID, ApiError, cut_response
from api.transcode import audio_response
from shared import jobs, keys

routes = web.RouteTableDef()
RECHECK_S = 1.0  # watchers re-read job state at least this often (covers lost events)
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")  # longer numbers: 416, never int() on 5,000 digits


async def _piece(c: ApiContext, cache_key: str) -> bytes:
    audio = await c.cache_redis.get(keys.audio(cache_key))
    if audio is None:
        raise ApiError(410, "audio_expired", "this job's audio has left the cache; submit the article again")
    return audio


async def stream_audio(request: web.Request, c: ApiContext, job_id: str,
                       response: web.StreamResponse | None = None) -> web.StreamResponse:
    """Each landed chunk's audio written to `response` in order (default: plain MP3, see api.transcode)."""
    request[JOB_ID] = job_id
    if response is None:
        response = audio_response("mp3")
    manifest: list[str] = []
    sent = 0
    idle_since = time.monotonic()
    async with c.notifier.watch(job_id) as watcher:
        while True:
            job = await jobs.get_job(c.redis, job_id)
            if job is None or job.status in ("failed", "cancelled"):
                if not response.prepared:
                    raise ApiError(409, f"job_{job.status if job else 'gone'}", "the job ended without audio")
                cut_response(request, f"job {job.status if job else 'gone'}")
                return response
            if not response.prepared:  # headers go out at once, so clients see the stream begin
                await response.prepare(request)
            if time.monotonic() - idle_since > c.settings.stream_idle_s:  # a job that stopped moving
                cut_response(request, "no progress")
                return response
            if job.total >= 0:
                if not manifest:  # written once with the total, never changed after
                    manifest = await jobs.chunk_keys(c.redis, job_id)
                while sent < job.total and await c.redis.sismember(keys.job_landed(job_id), sent):
                    await response.write(await _piece(c, manifest[sent]))
                    sent += 1
                    idle_since = time.monotonic()
                if sent == job.total:
                    break
            await watcher.next(timeout=RECHECK_S)  # events that came meanwhile are queued
    await response.write_eof()
    return response


def _parse_range(header: str, size: int) -> tuple[int, int]:
    """One `bytes=a-b` range -> (start, end inclusive); raises 416 for anything else."""
    match = _RANGE.match(header.strip())
    if not match or match.group(1) == match.group(2) == "":
        raise ApiError(416, "invalid_range", f"unsupported Range header {header[:100]!r}; use one 'bytes=start-end'",
                       {"Content-Range": f"bytes */{size}"})
    first, last = match.group(1), match.group(2)
    if first == "":  # suffix: the last N bytes
        length = int(last)
        if length == 0:
            raise ApiError(416, "range_not_satisfiable", "empty suffix range", {"Content-Range": f"bytes */{size}"})
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise ApiError(416, "range_not_satisfiable", f"range outside the {size}-byte file",
                       {"Content-Range": f"bytes */{size}"})
    return start, end


async def complete_audio(request: web.Request, c: ApiContext, job_id: str) -> web.StreamResponse:
    request[JOB_ID] = job_id
    manifest = await jobs.chunk_keys(c.redis, job_id)
    async with c.cache_redis.pipeline(transaction=False) as pipe:
        for key in manifest:
            pipe.strlen(keys.audio(key))
        sizes = await pipe.execute()
    if any(s == 0 for s in sizes):
        raise ApiError(410, "audio_expired", "this job's audio has left the cache; submit the article again")
    size = sum(sizes)
    etag = '"' + hashlib.sha256("\n".join(manifest).encode()).hexdigest()[:32] + '"'
    headers = {"Content-Type": "audio/mpeg", "Accept-Ranges": "bytes", "ETag": etag,
               "Cache-Control": "private, max-age=86400"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    start, end, status = 0, size - 1, 200
    range_header = request.headers.get("Range")
    if range_header is not None and request.headers.get("If-Range", etag) == etag:
        start, end = _parse_range(range_header, size)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = end - start + 1
    await response.prepare(request)
    offset = 0
    for key, piece_size in zip(manifest, sizes, strict=True):
        piece_start, piece_end = offset, offset + piece_size - 1
        offset += piece_size
        if piece_end < start or piece_start > end:
            continue
        audio = await _piece(c, key)
        await response.write(audio[max(start, piece_start) - piece_start: min(end, piece_end) - piece_start + 1])
    await response.write_eof()
    return response


@routes.get("/v1/jobs/{job_id}/audio")
async def audio(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    job = await owned_job(request)
    fmt = request.query.get("format", "mp3")
    response = audio_response(fmt)  # 400 unsupported_format
    if job.status == "done" and fmt == "mp3":
        return await complete_audio(request, c, job.id)
    if job.status in ("failed", "cancelled"):
        raise ApiError(409, f"job_{job.status}", f"the job is {job.status}; it has no audio")
    return await stream_audio(request, c, job.id, response)
