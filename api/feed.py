"""A podcast feed of the caller's finished articles (RSS 2.0 with the iTunes namespace, feedgen).

`GET /v1/feed` (with the key) answers the feed's URL, `/v1/feeds/<token>.xml`: podcast apps
cannot send headers, so the unguessable token is the credential. `POST /v1/feed/rotate`
issues a new token; the old URL answers 404 from then on. Enclosures are signed audio links
valid for `READOUT_FEED_LINK_TTL` (rounded to the day, so they stay the same between polls).
"""
from __future__ import annotations

import datetime
import secrets

from aiohttp import web
from feedgen.feed import FeedGenerator

from api.auth import caller
from api.context import ctx, public_base
from api.errors import ApiError
from shared import jobs, keys

routes = web.RouteTableDef()
FEED_ROUTE = "feed"
FEED_ITEMS = 100  # newest finished articles listed
TOKEN_BYTES = 24
_ROTATE = """
local old = redis.call('GET', KEYS[1])
if old then redis.call('DEL', ARGV[3] .. old) end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', ARGV[3] .. ARGV[1], ARGV[2])
return 1
"""
_FEED_PREFIX = keys.feed_token("")


async def _token(request: web.Request, *, rotate: bool) -> str:
    c = ctx(request)
    owner = caller(request, c.settings)
    if not rotate:
        current = await c.redis.get(keys.owner_feed(owner))
        if current is not None:
            return current.decode()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await c.redis.eval(_ROTATE, 1, keys.owner_feed(owner), token, owner, _FEED_PREFIX)
    return token


def _feed_url(request: web.Request, token: str) -> str:
    return f"{public_base(request, ctx(request).settings)}/v1/feeds/{token}.xml"


@routes.get("/v1/feed")
async def feed_url(request: web.Request) -> web.Response:
    return web.json_response({"url": _feed_url(request, await _token(request, rotate=False))})


@routes.post("/v1/feed/rotate")
async def rotate(request: web.Request) -> web.Response:
    return web.json_response({"url": _feed_url(request, await _token(request, rotate=True))})


def _duration(ms: int) -> str:
    seconds = round(ms / 1000)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@routes.get("/v1/feeds/{token}.xml", name=FEED_ROUTE)
async def feed(request: web.Request) -> web.Response:
    c = ctx(request)
    token = request.match_info["token"]
    owner = await c.redis.get(keys.feed_token(token)) if len(token) < 100 else None
    if owner is None:
        raise ApiError(404, "not_found", "no such feed (it may have been rotated)")
    finished: list[jobs.Job] = []
    before: float | None = None
    while len(finished) < FEED_ITEMS:  # newest first, skipping jobs still running or failed
        page, before = await jobs.list_jobs(c.redis, owner.decode(), limit=FEED_ITEMS, before=before)
        finished += [j for j in page if j.status == "done" and j.audio_bytes]
        if before is None:
            break
    base = public_base(request, c.settings)
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.title("Readout")
    fg.description("Articles converted to speech by Readout")
    fg.link(href=_feed_url(request, token), rel="self")
    fg.link(href=f"{base}/", rel="alternate")
    fg.language("en")
    fg.podcast.itunes_author("Readout")
    fg.podcast.itunes_explicit("no")
    for job in reversed(finished[:FEED_ITEMS]):  # feedgen puts each new entry first
        path = f"/v1/jobs/{job.id}/audio"
        audio = base + c.links.sign(job.id, path, ttl_s=c.settings.feed_link_ttl_s)
        title = job.title or "Untitled article"
        entry = fg.add_entry()
        entry.id(f"readout:{job.id}")
        entry.guid(f"readout:{job.id}", permalink=False)
        entry.title(title)
        entry.description(f"{title}. {job.characters:,} characters read by {job.engine} ({job.voice}).")
        entry.pubDate(datetime.datetime.fromtimestamp(job.finished_at or job.created_at, tz=datetime.UTC))
        entry.enclosure(audio, str(job.audio_bytes), "audio/mpeg")
        entry.podcast.itunes_duration(_duration(job.audio_ms))
        if job.author:  # a URL job's byline, as its page gives it
            entry.podcast.itunes_author(job.author)
    return web.Response(body=fg.rss_str(pretty=True), content_type="application/rss+xml", charset="utf-8")
