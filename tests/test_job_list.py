"""The job list (newest first, the caller's only, paged by cursor), cancel, and delete."""
from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import pytest

from tests.conftest import RedisServer
from tests.service import auth, fresh, keyed_stack, submit, wait_status
from tests.stack import Stack


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = keyed_stack(redis_server.url, tmp_path_factory.mktemp("logs"))
    s.start(workers=1)
    yield s
    s.stop()


async def page(http: aiohttp.ClientSession, stack: Stack, who: str = "me", **params: str) -> tuple[int, dict]:
    async with http.get(f"{stack.url}/v1/jobs", params=params, headers=auth(who)) as resp:
        return resp.status, await resp.json()


async def test_list_is_the_callers_newest_first_in_pages(http: aiohttp.ClientSession, stack: Stack) -> None:
    mine = [(await submit(http, stack))["id"] for _ in range(5)]
    theirs = [(await submit(http, stack, who="other"))["id"] for _ in range(2)]
    for job_id in mine:
        await wait_status(http, stack, job_id)
    seen: list[str] = []
    cursor = None
    while True:
        status, body = await page(http, stack, limit="2", **({"cursor": cursor} if cursor else {}))
        assert status == 200 and len(body["jobs"]) <= 2
        seen += [j["id"] for j in body["jobs"]]
        for job in body["jobs"]:
            assert job["status"] == "done" and "sig=" in job["audio_url"] and job["status_url"] == f"/v1/jobs/{job['id']}"
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen[:5] == mine[::-1] and not set(theirs) & set(seen)
    status, body = await page(http, stack, who="other")
    assert [j["id"] for j in body["jobs"]] == theirs[::-1] and body["next_cursor"] is None
    status, body = await page(http, stack)
    assert status == 200 and len(body["jobs"]) == len(seen)  # default limit 20


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"limit": "-1"},
                                    {"cursor": "yesterday"}, {"cursor": "-5"}, {"cursor": "inf"}, {"cursor": "nan"}])
async def test_bad_parameters_are_400(http: aiohttp.ClientSession, stack: Stack, params: dict) -> None:
    status, body = await page(http, stack, **params)
    assert status == 400 and body["error"]["code"] == "invalid_parameter"


async def test_list_needs_a_key(http: aiohttp.ClientSession, stack: Stack) -> None:
    async with http.get(f"{stack.url}/v1/jobs") as resp:
        assert resp.status == 401


async def test_cancel_and_delete(http: aiohttp.ClientSession, stack: Stack) -> None:
    running = await submit(http, stack, fresh(fresh() * 8))
    async with http.post(f"{stack.url}/v1/jobs/{running['id']}/cancel", headers=auth("other")) as resp:
        assert resp.status == 404
    async with http.post(f"{stack.url}/v1/jobs/{running['id']}/cancel", headers=auth()) as resp:
        body = await resp.json()
        assert resp.status == 200 and body["status"] in ("cancelled", "done")
    done = await submit(http, stack)
    await wait_status(http, stack, done["id"])
    async with http.delete(f"{stack.url}/v1/jobs/{done['id']}", headers=auth()) as resp:
        assert resp.status == 204
    _, body = await page(http, stack, limit="100")
    assert done["id"] not in [j["id"] for j in body["jobs"]]
    async with http.get(f"{stack.url}/v1/jobs/{done['id']}", headers=auth()) as resp:
        assert resp.status == 404
    async with http.get(stack.url + done["audio_url"]) as resp:  # the signed link of a deleted job
        assert resp.status == 404
