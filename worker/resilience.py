"""An ARQ worker that outlives its Redis: away, frozen, full or read-only, for however long.

ARQ's own loop lets the first Redis error out of a poll end `Worker.main`, and the process
exits (a 60 s outage, or a Redis at `maxmemory`, killed every worker). Here:
- the poll loop is supervised: a store error is logged and the loop carries on after a
  capped backoff (`BACKOFF_MIN_S` doubling to `BACKOFF_MAX_S`), never ending the process;
- a job slot taken by a job whose start failed half-way is given back (ARQ would leak it,
  and after `max_jobs` such failures the worker would take no job again);
- an ARQ job whose bookkeeping failed (its retry or result could not be written) keeps its
  `arq:in-progress` key until that expires; once Redis answers again the key is dropped,
  so the job (still in the queue) runs again at once instead of minutes later;
- a store that stays full: ARQ cannot even start a job then (starting one is a write), so
  jobs would sit `queued` forever. After `READOUT_STORE_FAIL_AFTER` seconds of a full store
  the queued jobs are failed with `store_full` (a write Redis allows when out of memory,
  see `shared.jobs.finish_job`), and they free their text as they go.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import Any

from arq.worker import Worker
from redis.exceptions import OutOfMemoryError, RedisError

from shared import jobs

log = logging.getLogger("readout.worker")

BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 5.0
PROBE_EVERY_S = 1.0
IN_PROGRESS = "arq:in-progress:"
PROBE_KEY = "readout:store-probe"
_READOUT_JOB = re.compile(r"^(?:article|chunk|finish):([0-9a-f]{32})(?::\d+)?$")
STORE_ERRORS = (RedisError, OSError)


class ResilientWorker(Worker):
    def __init__(self, *args: Any, store_fail_after_s: float = 120.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store_fail_after_s = store_fail_after_s
        self._orphans: set[str] = set()  # ARQ jobs whose in-progress key outlived a failed run
        self._full_since: float | None = None
        self._probed = 0.0

    async def main(self) -> None:
        """ARQ's main, restarted after any store error instead of ending the process."""
        delay = BACKOFF_MIN_S
        while True:
            try:
                await super().main()
                return  # burst mode finished
            except STORE_ERRORS as exc:
                log.warning("job store error; worker carries on", extra={"error": _describe(exc), "retry_in": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except STORE_ERRORS:  # a full store fails ARQ's own health write first: still watch it
            with contextlib.suppress(*STORE_ERRORS):
                await self._recover()
            raise
        await self._recover()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        for job_id in job_ids:
            before = self.job_counter
            try:
                await super().start_jobs([job_id])
            except STORE_ERRORS:
                if self.job_counter > before and job_id.decode() not in self.tasks:  # taken, never started
                    self.job_counter -= 1
                    self.sem.release()
                raise

    async def run_job(self, job_id: str, score: int) -> None:
        try:
            await super().run_job(job_id, score)
        except STORE_ERRORS as exc:
            self._orphans.add(job_id)
            log.warning("job bookkeeping failed; the job will run again", extra={"arq_job": job_id,
                                                                                  "error": _describe(exc)})

    async def _recover(self) -> None:
        """Runs after every poll that reached Redis: orphans released, a full store watched."""
        for job_id in list(self._orphans):
            await self.pool.delete(IN_PROGRESS + job_id)
            self._orphans.discard(job_id)
        now = time.monotonic()
        if now - self._probed < PROBE_EVERY_S:
            return
        self._probed = now
        try:
            await self.pool.set(PROBE_KEY, b"1", px=10_000)  # denied when Redis is out of memory
            self._full_since = None
        except OutOfMemoryError:
            self._full_since = self._full_since or now
            if now - self._full_since >= self.store_fail_after_s:
                await self._fail_queued_jobs()

    async def _fail_queued_jobs(self) -> None:
        ids = {m.group(1) for raw in await self.pool.zrange(self.queue_name, 0, -1)
               if (m := _READOUT_JOB.match(raw.decode()))}
        failed = 0
        for job_id in ids:
            failed += await jobs.finish_job(
                self.pool, job_id, "failed", error_code="store_full", even_if_full=True,
                error=f"the job store stayed full for over {self.store_fail_after_s:g} s; submit the article again")
        if failed:
            log.error("store full: queued jobs failed", extra={"jobs": failed})


def _describe(exc: BaseException) -> str:
    """The error's type and Redis's own words, never a command's arguments."""
    return type(exc).__name__
