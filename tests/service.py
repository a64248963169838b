"""Test helpers for the results tests: a keyed stack on the fake engine, submit and wait."""
from __future__ import annotations

import asyncio
import secrets

import aiohttp

from tests.conftest import CORPUS, free_port
from tests.stack import Stack

KEYS = {"me": "results-key-me", "other": "results-key-other"}
ESSAY = (CORPUS / "federalist-10.txt").read_text(encoding="utf-8")[:2500]


def auth(name: str = "me") -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"}


def fresh(text: str = ESSAY) -> str:
    tag = "".join(secrets.choice("bcdfghjklmnpqrstvwxz") for _ in range(8))
    return f"Reading {tag}.\n\n" + text.replace(" the ", f" the {tag} ")


def keyed_stack(redis_url: str, logs, **env: str) -> Stack:
    return Stack(redis_url, free_port(), logs, env={
        "READOUT_API_KEYS": ",".join(f"{n}:{k}" for n, k in KEYS.items()),
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "30",
        "READOUT_WORKER_CONCURRENCY": "8", **env,
    })


async def submit(http: aiohttp.ClientSession, stack: Stack, text: str | None = None, who: str = "me") -> dict:
    async with http.post(f"{stack.url}/v1/jobs", json={"text": text or fresh()}, headers=auth(who)) as resp:
        body = await resp.json()
        assert resp.status == 202, body
        return body


async def wait_status(http: aiohttp.ClientSession, stack: Stack, job_id: str, want: str = "done",
                      who: str = "me", timeout: float = 90) -> dict:
    """Poll the status until it is `want` (or another terminal state: then fail)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with http.get(f"{stack.url}/v1/jobs/{job_id}", headers=auth(who)) as resp:
            body = await resp.json()
        if body.get("status") == want:
            return body
        assert body.get("status") not in ("done", "failed", "cancelled"), body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.05)
