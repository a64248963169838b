"""Fair order in the one ARQ queue: every job's first chunk first, then a window per job.

ARQ's queue is a sorted set scored by enqueue time in ms; workers take the lowest due score,
and a job stays in the set until it has finished. Two rules keep concurrent jobs interleaved
instead of queued behind each other:

- **First chunk ahead.** The article job (which speaks chunk 0) is scored `FIRST_CHUNK_AHEAD_MS`
  in the past, ahead of every chunk job already waiting, so a new job's first audio waits for
  one free worker slot, not for other jobs' backlogs.
- **Window.** At most `READOUT_JOB_WINDOW` of a job's chunk jobs are in the queue at once
  (waiting or running); as each finishes, the next is released, scored now, so it queues
  behind what other jobs released before it (round robin). 0 turns both rules off: every
  chunk is enqueued at once and the queue is first come, first served.

A release is one Lua script: it counts the job's chunk jobs still in the queue and enqueues
the next ones (the same two writes as ARQ's own `enqueue_job`, payloads serialized by ARQ),
so two workers releasing at once can never overfill the window. Releases are triggered when
a chunk job has finished, and every worker also sweeps the jobs with unreleased chunks once a
second, so a worker that dies between finishing a chunk and releasing the next stalls a
job for a second at most.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from arq.connections import ArqRedis
from arq.constants import default_queue_name, expires_extra_ms, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms

from shared import jobs, keys

FIRST_CHUNK_AHEAD_MS = 3_600_000  # an hour: ahead of any backlog, yet well inside ARQ's 24 h expiry
SWEEP_S = 1.0  # how often each worker re-checks the windows (the crash safety net)


def first_chunk_score_time() -> datetime:
    return datetime.now(UTC) - timedelta(milliseconds=FIRST_CHUNK_AHEAD_MS)


async def enqueue_article(queue: ArqRedis, job_id: str, *, fair: bool = True) -> None:
    """Enqueue a job's article job (chunk 0 and the fan-out): ahead of every waiting chunk job
    when `fair`, else at the back (READOUT_JOB_WINDOW=0: first come, first served)."""
    ahead = first_chunk_score_time() if fair else None
    await queue.enqueue_job("article_job", job_id, _job_id=jobs.article_job_id(job_id), _defer_until=ahead)


_OPEN = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  for i = 3, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
  redis.call('HSET', KEYS[2], 'released', 0, 'finished', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[1])
  redis.call('SADD', KEYS[3], ARGV[2])
end
return 0
"""

# KEYS: window list, window state, the ARQ queue. ARGV: job id, window, expected `released`,
# now (ms), expiry (ms), then the serialized chunk jobs for positions released+1, released+2, ...
# Returns -1 when `released` moved on (the caller re-reads and tries again), else the number
# of positions still unreleased.
_RELEASE = """
local state = redis.call('HMGET', KEYS[2], 'released', 'finished')
if not state[1] then return 0 end
local released, finished = tonumber(state[1]), tonumber(state[2])
if released ~= tonumber(ARGV[3]) then return -1 end
local pending = redis.call('LRANGE', KEYS[1], 0, -1)
local prefix = 'chunk:' .. ARGV[1] .. ':'
while finished < released and not redis.call('ZSCORE', KEYS[3], prefix .. pending[finished + 1]) do
  finished = finished + 1
end
local in_queue = 0
for p = finished + 1, released do
  if redis.call('ZSCORE', KEYS[3], prefix .. pending[p]) then in_queue = in_queue + 1 end
end
local window, payload = tonumber(ARGV[2]), 6
while in_queue < window and released < #pending and payload <= #ARGV do
  local id = prefix .. pending[released + 1]
  if redis.call('EXISTS', 'JOBKEY' .. id, 'RESULTKEY' .. id) == 0 then
    redis.call('PSETEX', 'JOBKEY' .. id, ARGV[5], ARGV[payload])
    redis.call('ZADD', KEYS[3], ARGV[4], id)
    in_queue = in_queue + 1
  end
  released = released + 1
  payload = payload + 1
end
redis.call('HSET', KEYS[2], 'released', released, 'finished', finished)
return #pending - released
""".replace("JOBKEY", job_key_prefix).replace("RESULTKEY", result_key_prefix)


async def open_window(queue: ArqRedis, job_id: str, pending: Sequence[int], ttl_s: int) -> None:
    """Record the job's queued chunks, in order, once (a re-run article job keeps the first list)."""
    if pending:
        await queue.eval(_OPEN, 3, keys.job_window(job_id), keys.job_window_state(job_id), keys.WINDOWS,
                         ttl_s, job_id, *pending)


async def release(queue: ArqRedis, job_id: str, window: int) -> bool:
    """Enqueue the job's next chunks as far as its window has room; True once all are released."""
    while True:
        state = await queue.hget(keys.job_window_state(job_id), "released")
        if state is None:
            return True
        released = int(state)
        upcoming = await queue.lrange(keys.job_window(job_id), released, released + window - 1)
        now = timestamp_ms()
        payloads = [serialize_job("chunk_job", (job_id, int(i)), {}, None, now, serializer=queue.job_serializer)
                    for i in upcoming]
        left = await queue.eval(_RELEASE, 3, keys.job_window(job_id), keys.job_window_state(job_id), default_queue_name,
                                job_id, window, released, now, expires_extra_ms, *payloads)
        if left >= 0:
            return left == 0


async def close_window(queue: ArqRedis, job_id: str) -> None:
    async with queue.pipeline(transaction=True) as pipe:
        pipe.srem(keys.WINDOWS, job_id)
        pipe.delete(keys.job_window(job_id), keys.job_window_state(job_id))
        await pipe.execute()


async def open_jobs(queue: ArqRedis) -> list[str]:
    return [m.decode() for m in await queue.smembers(keys.WINDOWS)]
