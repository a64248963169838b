"""A job's audio and captions: stream while it runs, serve the stored files once it is done.

While running, chunk 0's bytes go out the moment chunk 0 lands, then each next chunk in
order, read from the chunk cache (a chunk the cache lost is synthesised again, under the
same lock as everywhere). The stream ends cleanly when the job is done (its finished files
written), so a clean end always means a whole article. A job that fails or is cancelled
mid-stream gets its connection cut without the closing chunk of the chunked encoding, so no
client mistakes a partial file for a whole. Once done, `jobs/<id>/audio.mp3` is served as stored: from a directory with
sendfile (Content-Length, ETag, Range, If-None-Match), from S3 proxied with Range, or as a
307 to a presigned URL (`READOUT_S3_PRESIGN=1`).
"""
from __future__ import annotations

import re
import time

from aiohttp import web

from api.context import ApiContext, ctx, owned_job
from api.errors import JOB_ID, ApiError, cut_response
from api.transcode import TranscodingResponse, audio_response
from shared import jobs, keys
from shared.audio.rendered import RenderedChunk
from shared.engines import get_engine
from shared.store import NotFound
from shared.store.finished import AUDIO, MARKS, SRT, VTT, file_key
from shared.store.s3 import S3Storage
from shared.synthesis import get_or_synthesize

routes = web.RouteTableDef()
RECHECK_S = 1.0  # watchers re-read job state at least this often (covers lost events)
PRESIGN_S = 300  # lifetime of a presigned S3 URL behind a 307
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")  # longer numbers: 416, never int() on 5,000 digits
_CAPTION_TYPES = {VTT: "text/vtt", SRT: "application/x-subrip", MARKS: "application/json"}


async def _synthesized(c: ApiContext, job: jobs.Job, index: int) -> RenderedChunk:
    """Chunk `index` made again (the cache lost it), under the same lock as everywhere."""
    sentences = await jobs.chunk_sentences(c.redis, job.id, index)
    if sentences is None:
        raise ApiError(503, "store_unavailable", "the job changed while streaming; request the audio again",
                       {"Retry-After": "1"})
    engine = get_engine(job.engine, c.settings)
    result = await get_or_synthesize(c.cache_redis, engine, sentences, jobs.job_params(engine, job),
                                     settings=c.settings, cache=c.cache, stats_redis=c.redis)
    return result.chunk


async def _send_piece(c: ApiContext, job: jobs.Job, index: int, cache_key: str, response: web.StreamResponse) -> None:
    """Chunk `index` to `response`: its MP3 frames, or (transcoding) the whole chunk for its own PCM."""
    if isinstance(response, TranscodingResponse):
        chunk = await c.cache.get(cache_key) or await _synthesized(c, job, index)
        await response.write_chunk(chunk)
        return
    mp3 = await c.cache.mp3(cache_key)
    await response.write(mp3 if mp3 is not None else (await _synthesized(c, job, index)).mp3)


async def stream_audio(request: web.Request, c: ApiContext, job_id: str,
                       response: web.StreamResponse | None = None) -> web.StreamResponse:
    """Each landed chunk written to `response` in order (default: its MP3 frames; api.transcode: its PCM re-encoded)."""
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
                    try:
                        await _send_piece(c, job, sent, manifest[sent], response)
                    except ApiError as exc:
                        cut_response(request, exc.code)
                        return response
                    sent += 1
                    idle_since = time.monotonic()
                if sent == job.total and job.status == "done":
                    break  # a clean end only once the finished files exist: a failure there still cuts
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


async def stored_audio(request: web.Request, c: ApiContext, job: jobs.Job) -> web.StreamResponse:
    """The finished file as stored; Range errors are JSON like every other error."""
    request[JOB_ID] = job.id
    key = file_key(job.id, AUDIO)
    size = job.audio_bytes or await c.storage.size(key)
    if not size:
        raise ApiError(404, "not_found", "this job's finished audio is gone")
    range_header = request.headers.get("Range")
    if range_header is not None:
        _parse_range(range_header, size)
    headers = {"Cache-Control": "private, max-age=86400", "Content-Disposition": f'inline; filename="{job.id}.mp3"'}
    path = c.storage.local_path(key)
    if path is not None:
        return web.FileResponse(path, headers={**headers, "Content-Type": "audio/mpeg"})
    assert isinstance(c.storage, S3Storage)
    if c.settings.s3_presign:
        raise web.HTTPTemporaryRedirect(await c.storage.presign(key, PRESIGN_S), headers={"Cache-Control": "no-store"})
    try:
        return await _proxy_s3(request, c.storage, key, size, headers)
    except NotFound as exc:
        raise ApiError(404, "not_found", "this job's finished audio is gone") from exc


async def _proxy_s3(request: web.Request, storage: S3Storage, key: str, size: int,
                    headers: dict[str, str]) -> web.StreamResponse:
    range_header = request.headers.get("Range")
    wanted = _parse_range(range_header, size) if range_header is not None else None
    body, head = await storage.open_range(key, *wanted) if wanted else await storage.open_range(key)
    etag = head.get("ETag", "")
    if wanted and request.headers.get("If-Range", etag) != etag:  # the file changed: send it whole
        body.close()
        wanted = None
        body, head = await storage.open_range(key)
    try:
        if etag and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={**headers, "ETag": etag})
        start, end = wanted or (0, size - 1)
        response = web.StreamResponse(status=206 if wanted else 200, headers={
            **headers, "Content-Type": "audio/mpeg", "Accept-Ranges": "bytes", "ETag": etag})
        if wanted:
            response.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        response.content_length = end - start + 1
        await response.prepare(request)
        try:
            async for block in body.iter_chunks(1 << 16):
                await response.write(block)
        except Exception:
            cut_response(request, "storage read failed")  # never a short body that looks whole
            return response
        await response.write_eof()
        return response
    finally:
        body.close()


@routes.get("/v1/jobs/{job_id}/audio")
async def audio(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    job = await owned_job(request)
    fmt = request.query.get("format", "mp3")
    response = audio_response(fmt)  # 400 unsupported_format
    if job.status == "done" and fmt == "mp3":
        return await stored_audio(request, c, job)
    if job.status in ("failed", "cancelled"):
        raise ApiError(409, f"job_{job.status}", f"the job is {job.status}; it has no audio")
    return await stream_audio(request, c, job.id, response)


async def _stored_text(request: web.Request, name: str) -> web.Response:
    c = ctx(request)
    job = await owned_job(request)
    data = await c.storage.get(file_key(job.id, name)) if job.status == "done" else None
    if data is None:
        raise ApiError(404, "not_found", f"{name} is written when the job is done (it is {job.status})")
    return web.Response(body=data, headers={"Content-Type": f"{_CAPTION_TYPES[name]}; charset=utf-8",
                                            "Cache-Control": "private, max-age=86400"})


@routes.get("/v1/jobs/{job_id}/captions.vtt")
async def captions_vtt(request: web.Request) -> web.Response:
    return await _stored_text(request, VTT)


@routes.get("/v1/jobs/{job_id}/captions.srt")
async def captions_srt(request: web.Request) -> web.Response:
    return await _stored_text(request, SRT)


@routes.get("/v1/jobs/{job_id}/marks.json")
async def marks_json(request: web.Request) -> web.Response:
    return await _stored_text(request, MARKS)
