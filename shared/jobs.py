"""The job record and its states, kept in Redis and changed only by atomic scripts.

States: queued -> [fetching ->] running -> done | failed | cancelled (a URL job is
`fetching` while the worker reads the page). Every transition into a terminal state goes
through one Lua script, so exactly one transition wins; later events for a finished job are
ignored. A job becomes `done` only once its finished files are written (`complete_job`,
called by the finish job the last landed chunk enqueues); landing the last chunk alone
leaves it `running` with every chunk counted. Each change publishes a JSON event on the job's channel
(`keys.events(id)`), which the API relays to streaming and SSE clients.
"""
from __future__ import annotations

import dataclasses
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis

from shared import keys, stats
from shared.engines.base import AudioParams, Engine
from shared.text.document import Document, Sentence

Status = Literal["queued", "fetching", "running", "done", "failed", "cancelled"]
STATUSES: tuple[str, ...] = ("queued", "fetching", "running", "done", "failed", "cancelled")
TERMINAL: frozenset[str] = frozenset({"done", "failed", "cancelled"})
JOB_ID_BYTES = 16  # 128 random bits, hex encoded: 32 characters
JOB_ID_LEN = 2 * JOB_ID_BYTES


def new_job_id() -> str:
    return secrets.token_hex(JOB_ID_BYTES)


def article_job_id(job_id: str) -> str:
    """The ARQ job id of a job's article job (enqueued by the API)."""
    return f"article:{job_id}"


def chunk_job_id(job_id: str, index: int) -> str:
    """Per (job, chunk): ARQ dedups re-enqueues of one job's chunk, never across jobs."""
    return f"chunk:{job_id}:{index}"


def finish_job_id(job_id: str) -> str:
    """The ARQ job id of a job's finishing step (finished files, then done)."""
    return f"finish:{job_id}"


def valid_job_id(job_id: str) -> bool:
    """Checked before any Redis access: 32 lowercase hex characters."""
    return len(job_id) == JOB_ID_LEN and all(c in "0123456789abcdef" for c in job_id)


@dataclass(frozen=True)
class Job:
    id: str
    owner: str
    status: Status
    engine: str
    voice: str
    variant: str
    speed: float
    characters: int
    total: int  # -1 until the article job has chunked the text
    done: int
    hits: int
    misses: int
    error: str | None
    error_code: str | None
    created_at: float
    started_at: float | None
    first_audio_at: float | None
    finished_at: float | None
    title: str | None = None  # URL jobs: from the page, once fetched; else by the finisher from the article
    author: str | None = None
    source_url: str | None = None  # URL jobs: as submitted, then the page's URL after redirects
    audio_bytes: int = 0  # size of the finished audio.mp3 (0 until written)
    audio_ms: int = 0  # its exact duration

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_hash(cls, job_id: str, raw: dict[bytes, bytes]) -> Job:
        h = {k.decode(): v.decode() for k, v in raw.items()}

        def opt_float(name: str) -> float | None:
            return float(h[name]) if h.get(name) else None

        return cls(
            id=job_id,
            owner=h.get("owner", ""),
            status=h.get("status", "queued"),  # type: ignore[arg-type]
            engine=h.get("engine", ""),
            voice=h.get("voice", ""),
            variant=h.get("variant", ""),
            speed=float(h.get("speed") or 1.0),
            characters=int(h.get("characters", 0)),
            total=int(h.get("total", -1)),
            done=int(h.get("done", 0)),
            hits=int(h.get("hits", 0)),
            misses=int(h.get("misses", 0)),
            error=h.get("error") or None,
            error_code=h.get("error_code") or None,
            created_at=float(h.get("created_at", 0)),
            started_at=opt_float("started_at"),
            first_audio_at=opt_float("first_audio_at"),
            finished_at=opt_float("finished_at"),
            title=h.get("title") or None,
            author=h.get("author") or None,
            source_url=h.get("source_url") or None,
            audio_bytes=int(h.get("audio_bytes", 0)),
            audio_ms=int(h.get("audio_ms", 0)),
        )


def job_params(engine: Engine, job: Job) -> AudioParams:
    """The audio identity of a job's chunks: the engine's params at the job's speed."""
    return dataclasses.replace(engine.params(job.voice, job.variant or None), speed=job.speed)


async def create_job(
    redis: Redis, *, job_id: str, owner: str, engine: str, voice: str, variant: str, document: Document | None,
    speed: float = 1.0, source_url: str | None = None, title: str | None = None, author: str | None = None,
) -> None:
    """The job record, and its cleaned article (`Document.to_json()`) until it is chunked.

    A text job has its `document`; a URL job has only `source_url` until the worker fetches it.
    `title`/`author` (e.g. from a URL's metadata) go into the finished file's tag.
    """
    assert (document is None) != (source_url is None)
    now = time.time()
    meta = {k: v for k, v in (("title", title), ("author", author)) if v}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.job(job_id), mapping={
            "owner": owner, "status": "queued", "engine": engine, "voice": voice,
            "variant": variant, "speed": repr(speed), "characters": len(document.text) if document else 0,
            "total": -1, "done": 0,
            "hits": 0, "misses": 0, "created_at": repr(now), **meta,
            **({"source_url": source_url} if source_url else {}),
        })
        if document is not None:
            pipe.set(keys.job_text(job_id), document.to_json().encode("utf-8"))
        pipe.zadd(keys.owner_jobs(owner), {job_id: now})
        pipe.hincrby(keys.JOBS_BY_STATUS, "queued", 1)
        await pipe.execute()


async def get_job(redis: Redis, job_id: str) -> Job | None:
    raw = await redis.hgetall(keys.job(job_id))
    return Job.from_hash(job_id, raw) if raw else None


async def chunk_keys(redis: Redis, job_id: str) -> list[str]:
    return [k.decode() for k in await redis.lrange(keys.job_chunks(job_id), 0, -1)]


def sentences_json(sentences: list[Sentence]) -> str:
    """A chunk's manifest entry: JSON list of {text, spoken, start, end, boundary, chapter}."""
    return json.dumps([
        {"text": s.text, "spoken": s.spoken, "start": s.start, "end": s.end, "boundary": s.boundary,
         "chapter": s.chapter} for s in sentences
    ], ensure_ascii=False, separators=(",", ":"))


def sentences_from_json(raw: str | bytes) -> list[Sentence]:
    return [Sentence(**item) for item in json.loads(raw)]


async def chunk_text(redis: Redis, job_id: str, index: int) -> str | None:
    """The chunk's manifest entry as stored (`sentences_json`)."""
    raw = await redis.lindex(keys.job_texts(job_id), index)
    return raw.decode("utf-8") if raw is not None else None


async def chunk_sentences(redis: Redis, job_id: str, index: int) -> list[Sentence] | None:
    raw = await redis.lindex(keys.job_texts(job_id), index)
    return sentences_from_json(raw) if raw is not None else None


async def job_chapters(redis: Redis, job_id: str) -> list[str]:
    """The article's chapter titles (its headings); a sentence's `chapter` indexes this list."""
    raw = await redis.hget(keys.job(job_id), "chapters")
    return json.loads(raw) if raw else []


# Shared Lua prelude: move the job into a new status, keeping jobs-by-status in step.
_MOVE = """
local function move(job, by_status, channel, to, now, extra)
  local from = redis.call('HGET', job, 'status')
  redis.call('HSET', job, 'status', to)
  redis.call('HINCRBY', by_status, from, -1)
  redis.call('HINCRBY', by_status, to, 1)
  if to == 'done' or to == 'failed' or to == 'cancelled' then
    redis.call('HSET', job, 'finished_at', now)
  end
  local event = {type = to}
  for k, v in pairs(extra) do event[k] = v end
  redis.call('PUBLISH', channel, cjson.encode(event))
end
"""

# KEYS: job, chunks, texts, by_status, events; ARGV: now, n, chapters JSON, key_1..key_n, text_1..text_n
_START = _MOVE + """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'fetching' and status ~= 'running' then return 0 end
local n = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then
  for i = 1, n do redis.call('RPUSH', KEYS[2], ARGV[3 + i]) end
  for i = 1, n do redis.call('RPUSH', KEYS[3], ARGV[3 + n + i]) end
  redis.call('HSET', KEYS[1], 'chapters', ARGV[3])
end
redis.call('HSET', KEYS[1], 'total', n)
if status ~= 'running' then
  redis.call('HSETNX', KEYS[1], 'started_at', ARGV[1])
  move(KEYS[1], KEYS[4], KEYS[5], 'running', ARGV[1], {total = n})
end
return 1
"""

# KEYS: job, by_status, events; ARGV: now. A re-run (a retry, a dead worker's job) finds it fetching.
_BEGIN_FETCH = _MOVE + """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'fetching' then return 1 end
if status ~= 'queued' then return 0 end
redis.call('HSETNX', KEYS[1], 'started_at', ARGV[1])
move(KEYS[1], KEYS[2], KEYS[3], 'fetching', ARGV[1], {})
return 1
"""

# KEYS: job, text; ARGV: text, characters, title, author, source_url. Only while still fetching.
_STORE_FETCHED = """
if redis.call('HGET', KEYS[1], 'status') ~= 'fetching' then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'characters', ARGV[2], 'title', ARGV[3], 'author', ARGV[4], 'source_url', ARGV[5])
return 1
"""

# KEYS: job, landed, by_status, events, texts, stats; ARGV: index, source (hit|miss), now,
# then the time-to-first-audio bucket bounds (stats.TTFA_BUCKETS as labels), ascending
_LAND = _MOVE + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {-1, 0, 0} end
local total = tonumber(redis.call('HGET', KEYS[1], 'total'))
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  return {0, tonumber(redis.call('HGET', KEYS[1], 'done')), total}
end
local done = redis.call('HINCRBY', KEYS[1], 'done', 1)
if ARGV[2] == 'hit' then redis.call('HINCRBY', KEYS[1], 'hits', 1)
else redis.call('HINCRBY', KEYS[1], 'misses', 1) end
if ARGV[1] == '0' and redis.call('HSETNX', KEYS[1], 'first_audio_at', ARGV[3]) == 1 then
  local ttfa = tonumber(ARGV[3]) - tonumber(redis.call('HGET', KEYS[1], 'created_at'))
  local bucket = '+Inf'
  for i = 4, #ARGV do
    if ttfa <= tonumber(ARGV[i]) then bucket = ARGV[i]; break end
  end
  redis.call('HINCRBY', KEYS[6], 'ttfa_bucket:' .. bucket, 1)
  redis.call('HINCRBY', KEYS[6], 'ttfa_sum_us', math.floor(ttfa * 1000000 + 0.5))
end
redis.call('PUBLISH', KEYS[4], cjson.encode({type = 'chunk', index = tonumber(ARGV[1]),
  done = done, total = total, source = ARGV[2]}))
return {1, done, total}
"""

# KEYS: job, by_status, events, texts, text; ARGV: now, title, audio_bytes, audio_ms
_COMPLETE = _MOVE + """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'running' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'done')) ~= tonumber(redis.call('HGET', KEYS[1], 'total')) then return 0 end
redis.call('HSET', KEYS[1], 'title', ARGV[2], 'audio_bytes', ARGV[3], 'audio_ms', ARGV[4])
move(KEYS[1], KEYS[2], KEYS[3], 'done', ARGV[1], {done = tonumber(redis.call('HGET', KEYS[1], 'done'))})
redis.call('DEL', KEYS[4], KEYS[5])
return 1
"""

# KEYS: job, by_status, events, texts, text; ARGV: to, now, error, error_code
_FINISH = _MOVE + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
if status == 'done' or status == 'failed' or status == 'cancelled' then return 0 end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[3], 'error_code', ARGV[4]) end
local extra = {}
if ARGV[3] ~= '' then extra = {error = ARGV[3], code = ARGV[4]} end
move(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], extra)
redis.call('DEL', KEYS[4], KEYS[5])
return 1
"""


async def start_job(
    redis: Redis, job_id: str, chunk_cache_keys: list[str], texts: list[str], chapters: list[str] | None = None,
) -> bool:
    """queued (or fetching) -> running with the manifest written once; False if the job is already over.

    `texts` are the chunks' entries (`sentences_json`), `chapters` the chapter titles.
    """
    return bool(await redis.eval(
        _START, 5, keys.job(job_id), keys.job_chunks(job_id), keys.job_texts(job_id),
        keys.JOBS_BY_STATUS, keys.events(job_id),
        repr(time.time()), len(chunk_cache_keys), json.dumps(chapters or [], ensure_ascii=False),
        *chunk_cache_keys, *texts,
    ))


async def begin_fetch(redis: Redis, job_id: str) -> bool:
    """queued -> fetching (event `{"type": "fetching"}`); True also for a job already fetching, False once over."""
    return bool(await redis.eval(_BEGIN_FETCH, 3, keys.job(job_id), keys.JOBS_BY_STATUS, keys.events(job_id),
                                 repr(time.time())))


async def store_fetched(redis: Redis, job_id: str, *, document: Document, title: str | None, author: str | None,
                        source_url: str) -> bool:
    """Keep a URL job's cleaned article and the page's metadata; False if the job ended meanwhile."""
    return bool(await redis.eval(
        _STORE_FETCHED, 2, keys.job(job_id), keys.job_text(job_id),
        document.to_json().encode("utf-8"), len(document.text), title or "", author or "", source_url,
    ))


_TTFA_BOUNDS = [stats.bucket_label(b) for b in stats.TTFA_BUCKETS]  # _LAND writes stats.TTFA's fields


@dataclass(frozen=True)
class Landing:
    new: bool  # False when this chunk had already landed (a re-run job)
    done: int
    total: int


async def land_chunk(redis: Redis, job_id: str, index: int, *, hit: bool) -> Landing:
    """Record that chunk `index` has its audio (the job stays running until `complete_job`)."""
    new, done, total = await redis.eval(
        _LAND, 6, keys.job(job_id), keys.job_landed(job_id), keys.JOBS_BY_STATUS,
        keys.events(job_id), keys.job_texts(job_id), keys.STATS,
        index, "hit" if hit else "miss", repr(time.time()), *_TTFA_BOUNDS,
    )
    return Landing(new=new == 1, done=int(done), total=int(total))


# The same, allowed to write when Redis is out of memory (it frees the job's texts as it goes).
_FINISH_WHEN_FULL = "#!lua flags=allow-oom\n" + _FINISH
async def complete_job(redis: Redis, job_id: str, *, title: str, audio_bytes: int, audio_ms: int) -> bool:
    """running (every chunk landed) -> done, once the finished files are written; False otherwise."""
    return bool(await redis.eval(
        _COMPLETE, 5, keys.job(job_id), keys.JOBS_BY_STATUS, keys.events(job_id), keys.job_texts(job_id),
        keys.job_text(job_id),
        repr(time.time()), title, audio_bytes, audio_ms,
    ))


async def finish_job(
    redis: Redis, job_id: str, status: Status, *, error: str = "", error_code: str = "", even_if_full: bool = False
) -> bool:
    """Move a live job into failed or cancelled; False if it had already finished.

    `even_if_full`: record it even when Redis is at `maxmemory` (a job failed for a full store)."""
    assert status in ("failed", "cancelled")
    return bool(await redis.eval(
        _FINISH_WHEN_FULL if even_if_full else _FINISH, 5, keys.job(job_id), keys.JOBS_BY_STATUS, keys.events(job_id),
        keys.job_texts(job_id), keys.job_text(job_id),
        status, repr(time.time()), error, error_code,
    ))


async def expire_job(redis: Redis, job_id: str, ttl_s: int) -> None:
    """Once terminal, a job's record is kept for `ttl_s`; its stored files go with it (the sweeper)."""
    async with redis.pipeline(transaction=False) as pipe:
        for key in (keys.job(job_id), keys.job_chunks(job_id), keys.job_landed(job_id)):
            pipe.expire(key, ttl_s)
        await pipe.execute()


async def article_document(redis: Redis, job_id: str) -> Document | None:
    raw = await redis.get(keys.job_text(job_id))
    return Document.from_json(raw) if raw is not None else None


# KEYS: job, chunks, landed, texts, text, owner index; ARGV: job id (jobs-by-status is history: kept)
_DELETE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('ZREM', KEYS[6], ARGV[1])
return 1
"""


async def delete_job(redis: Redis, job: Job) -> bool:
    """Remove a job's record and everything Redis keeps for it (its files are the caller's)."""
    return bool(await redis.eval(
        _DELETE, 6, keys.job(job.id), keys.job_chunks(job.id), keys.job_landed(job.id), keys.job_texts(job.id),
        keys.job_text(job.id), keys.owner_jobs(job.owner), job.id,
    ))


async def list_jobs(redis: Redis, owner: str, *, limit: int, before: float | None) -> tuple[list[Job], float | None]:
    """The owner's jobs, newest first, created strictly before `before`; and the next page's bound.

    Index entries whose record has expired are dropped on the way.
    """
    index = keys.owner_jobs(owner)
    found: list[Job] = []
    bound = f"({before!r}" if before is not None else "+inf"
    while len(found) < limit:
        rows = await redis.zrevrangebyscore(index, bound, "-inf", start=0, num=limit - len(found), withscores=True)
        if not rows:
            return found, None
        async with redis.pipeline(transaction=False) as pipe:
            for member, _ in rows:
                pipe.hgetall(keys.job(member.decode()))
            records = await pipe.execute()
        gone = []
        for (member, score), raw in zip(rows, records, strict=True):
            if raw:
                found.append(Job.from_hash(member.decode(), raw))
            else:
                gone.append(member)
            bound = f"({score!r}"
        if gone:
            await redis.zrem(index, *gone)
    more = await redis.zrevrangebyscore(index, bound, "-inf", start=0, num=1)
    return found, (found[-1].created_at if more else None)


def job_summary(job: Job, urls: dict[str, str]) -> dict[str, Any]:
    """The JSON body of `GET /v1/jobs/{id}`."""
    end = job.finished_at or time.time()
    return {
        "id": job.id,
        "status": job.status,
        "engine": job.engine,
        "voice": job.voice,
        "speed": job.speed,
        "characters": job.characters,
        "chunks": {"total": job.total if job.total >= 0 else None, "done": job.done},
        "cache": {"hits": job.hits, "misses": job.misses},
        "error": {"code": job.error_code, "message": job.error} if job.error else None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "duration_seconds": round(end - job.created_at, 3),
        "time_to_first_audio_seconds": (
            round(job.first_audio_at - job.created_at, 3) if job.first_audio_at else None
        ),
        "title": job.title,
        "author": job.author,
        "source_url": job.source_url,
        "audio": {"bytes": job.audio_bytes, "duration_seconds": job.audio_ms / 1000} if job.audio_bytes else None,
        **urls,
    }


def decode_event(data: bytes | str) -> dict[str, Any]:
    return json.loads(data)
