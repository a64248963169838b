"""Article cleaning off the event loop: a few worker processes, each article on a time budget.

Cleaning Markdown or HTML is CPU work that grows with hostile input; done on the event loop,
twenty small bodies could freeze every other request. Every article, whatever its size,
goes to one of `READOUT_CLEAN_PROCESSES` spawned processes over a pipe. One that is not
done within `READOUT_CLEAN_TIMEOUT` seconds is killed and replaced, and the caller gets
`CleanTimeout` (the API's `422 text_too_complex`). Waiting for a free process is bounded
too (`CleanerBusy` after `queue_wait_s`: four budgets, at least 30 s). Results come back pickled, so the cleaner may return
any pickleable value (a str today, a dataclass of document blocks tomorrow).

The pool belongs to the event loop that first used it; its processes are daemons, so
they never outlive the API process.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("readout.api")
_CONTEXT = multiprocessing.get_context("spawn")  # no fork of a process holding threads and sockets
_READY = "ready"


class CleanTimeout(Exception):
    """The article took longer than the budget to clean."""


class CleanerBusy(Exception):
    """No cleaner process came free within the budget."""


def _serve(conn: Connection, func: Callable[..., Any]) -> None:
    """Child: answer `(args)` with `(True, result)` or `(False, error text)` until the pipe closes."""
    conn.send(_READY)
    while True:
        try:
            args = conn.recv()
        except EOFError:
            return
        try:
            conn.send((True, func(*args)))
        except Exception as exc:  # reported to the caller, the process lives on
            conn.send((False, f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, func: Callable[..., Any]) -> None:
        self.conn, child = _CONTEXT.Pipe()
        self.process: BaseProcess = _CONTEXT.Process(target=_serve, args=(child, func), daemon=True)
        self.process.start()
        child.close()

    async def receive(self, timeout: float) -> Any:
        """The next message, waiting on the pipe's fd (no thread, no blocking of the loop)."""
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        fd = self.conn.fileno()
        loop.add_reader(fd, lambda: readable.done() or readable.set_result(None))
        try:
            async with asyncio.timeout(timeout):
                await readable
        finally:
            loop.remove_reader(fd)
        return self.conn.recv()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(1)
        self.conn.close()


class CleanerPool:
    def __init__(self, func: Callable[..., Any], processes: int, timeout_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self._func = func
        self._timeout = timeout_s
        self.queue_wait_s = max(30.0, 4 * timeout_s)
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._workers: set[_Worker] = set()
        self._starting: set[asyncio.Task[None]] = set()
        for _ in range(max(1, processes)):
            self._spawn()

    def _spawn(self) -> None:
        task = self.loop.create_task(self._start_one())
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _start_one(self) -> None:
        worker = _Worker(self._func)
        self._workers.add(worker)
        try:
            if await worker.receive(timeout=60) != _READY:
                raise RuntimeError("cleaner process did not start")
        except Exception as exc:
            log.error("cleaner process did not start", extra={"error": type(exc).__name__})
            self._retire(worker)
            return
        except BaseException:
            self._retire(worker)
            raise
        self._idle.put_nowait(worker)

    def _retire(self, worker: _Worker) -> None:
        self._workers.discard(worker)
        worker.kill()

    async def run(self, *args: Any) -> Any:
        """`func(*args)` in a cleaner process, within the budget."""
        try:
            async with asyncio.timeout(self.queue_wait_s):
                worker = await self._idle.get()
        except TimeoutError as exc:
            raise CleanerBusy(f"no cleaner free within {self.queue_wait_s:g} s") from exc
        try:
            worker.conn.send(args)
            ok, value = await worker.receive(self._timeout)
        except BaseException as exc:  # too slow, cancelled, or the process died: replace it
            self._retire(worker)
            self._spawn()
            if isinstance(exc, TimeoutError):
                raise CleanTimeout(f"cleaning took longer than {self._timeout:g} s") from exc
            if isinstance(exc, (EOFError, OSError)):
                raise CleanTimeout("the cleaner process died on this input") from exc
            raise
        self._idle.put_nowait(worker)
        if not ok:
            raise RuntimeError(value)
        return value

    async def close(self) -> None:
        for task in list(self._starting):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        for worker in list(self._workers):
            self._retire(worker)


_POOL: CleanerPool | None = None


def get_pool(func: Callable[..., Any], processes: int, timeout_s: float) -> CleanerPool:
    """This event loop's pool (made on first use; a pool of a loop that is gone is discarded)."""
    global _POOL
    if _POOL is None or _POOL.loop is not asyncio.get_running_loop():
        if _POOL is not None:
            for worker in list(_POOL._workers):
                _POOL._retire(worker)
        _POOL = CleanerPool(func, processes, timeout_s)
    return _POOL


async def close_pool() -> None:
    global _POOL
    if _POOL is not None:
        await _POOL.close()
        _POOL = None
