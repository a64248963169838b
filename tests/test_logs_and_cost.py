"""Logs as JSON lines with job ids and one cache summary per job; the cost view moving as it should."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import CORPUS, ROOT, free_port
from tests.stack import Stack, get_json, until
from tests.test_service_e2e import fresh, submit, wait_done

pytestmark = pytest.mark.slow

PRICE = 30.0  # USD per million characters
ESSAY = (CORPUS / "federalist-07.txt").read_text(encoding="utf-8")
SUMMARY = "chunk cache stats"


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(redis_url, free_port(), tmp_path / "logs", env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "50",
        "READOUT_PRICE_PER_MILLION": str(PRICE),
    })
    s.start(workers=2)
    yield s
    s.stop()


def log_lines(stack: Stack, prefix: str) -> list[dict]:
    """Every line of the matching process logs, parsed: a line that is not JSON fails the test."""
    lines = []
    for path in sorted(stack.logs.glob(f"{prefix}*.log")):
        for raw in path.read_text().splitlines():
            lines.append(json.loads(raw))
    return lines


def summaries(stack: Stack, job_id: str) -> list[dict]:
    return [line for line in log_lines(stack, "worker") if line["msg"].startswith(SUMMARY) and line.get("job_id") == job_id]


def cost(stack: Stack) -> dict:
    status, body = get_json(stack.url + "/v1/stats")
    assert status == 200
    return body["cost"] | {"provider_characters": body["providers"].get("fake", {}).get("characters", 0)}


async def test_cost_figures_and_per_job_log_summaries(stack: Stack) -> None:
    article = fresh(ESSAY)
    start = cost(stack)
    assert start["price_per_million_chars"] == PRICE
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        cold = await wait_done(http, stack.url, (await submit(http, stack.url, article))["id"])
        after_cold = cost(stack)
        warm = await wait_done(http, stack.url, (await submit(http, stack.url, article))["id"])
        after_warm = cost(stack)
    assert cold["status"] == warm["status"] == "done"
    chunks = cold["chunks"]["total"]
    assert chunks > 2

    # Cold: every chunk billed (the fake engine bills what it is sent), nothing from the cache.
    billed = after_cold["billed_characters"] - start["billed_characters"]
    assert billed == after_cold["provider_characters"] - start["provider_characters"]
    assert 0.97 * cold["characters"] <= billed <= cold["characters"]  # chunking drops only the whitespace between chunks
    assert after_cold["cached_characters"] == start["cached_characters"]
    # Warm: nothing billed, the same characters served from the cache, and what that saved at the price.
    assert after_warm["billed_characters"] == after_cold["billed_characters"]
    assert after_warm["cached_characters"] - after_cold["cached_characters"] == billed
    assert after_warm["billed_usd"] == round(after_warm["billed_characters"] * PRICE / 1e6, 6)
    assert after_warm["saved_usd"] == round(after_warm["cached_characters"] * PRICE / 1e6, 6)
    assert after_warm["saved_usd"] - start["saved_usd"] == pytest.approx(billed * PRICE / 1e6, abs=1e-6)
    print(f"\ncold run billed {billed} characters (${billed * PRICE / 1e6:.6f} at ${PRICE}/M); "
          f"warm re-run billed 0, served {billed} from the cache, saved ${after_warm['saved_usd']:.6f}")

    # `readout stats` prints the same figures.
    out = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "api.cli", "--url", stack.url, "stats"],
                                  cwd=ROOT, capture_output=True, text=True, check=True)
    printed = json.loads(out.stdout)["cost"]
    assert printed == {k: v for k, v in after_warm.items() if k != "provider_characters"}

    # One summary line per job, with its job id, in the spirit of `chunk cache stats hits=49 misses=1`.
    assert await until(lambda: summaries(stack, cold["id"]) and summaries(stack, warm["id"]), timeout=10)
    (cold_line,), (warm_line,) = summaries(stack, cold["id"]), summaries(stack, warm["id"])
    assert cold_line["msg"] == f"{SUMMARY} hits=0 misses={chunks}"
    assert warm_line["msg"] == f"{SUMMARY} hits={chunks} misses=0"

    # Our own job lines all carry the job id as a field.
    lines = log_lines(stack, "worker")
    ours = [line for line in lines if line["logger"].startswith("readout")]
    job_lines = [line for line in ours if cold["id"] in json.dumps(line) or warm["id"] in json.dumps(line)]
    assert job_lines and all(line.get("job_id") in (cold["id"], warm["id"]) for line in job_lines)
    assert {"article chunked", f"{SUMMARY} hits=0 misses={chunks}"} <= {line["msg"] for line in job_lines}
    log_lines(stack, "api")  # the API's log is JSON lines too
