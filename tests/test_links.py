"""Signed links: valid without a header, tampered -> 403 invalid_signature, expired -> 403
link_expired, one path per signature; the key is accepted only in the Authorization header."""
from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from api.errors import ApiError
from api.links import LinkSigner, load_secret
from shared.config import load_settings
from tests.conftest import RedisServer
from tests.service import KEYS, auth, keyed_stack, submit, wait_status
from tests.stack import Stack

JOB = "a" * 32
PATH = f"/v1/jobs/{JOB}/audio"


def parts(url: str) -> tuple[str, str, str]:
    path, _, query = url.partition("?")
    fields = dict(p.split("=") for p in query.split("&"))
    return path, fields["expires"], fields["sig"]


def test_sign_and_check() -> None:
    signer = LinkSigner(b"s" * 32, ttl_s=3600)
    path, expires, sig = parts(signer.sign(JOB, PATH))
    assert path == PATH and int(expires) >= time.time() + 3600
    signer.check(JOB, PATH, expires, sig)  # valid
    for job, p, e, s in ((JOB, PATH, expires, sig[:-1] + ("0" if sig[-1] != "0" else "1")),  # tampered signature
                         (JOB, PATH, str(int(expires) + 1), sig),  # tampered expiry
                         ("b" * 32, PATH.replace(JOB, "b" * 32), expires, sig),  # another job
                         (JOB, PATH.replace("audio", "marks.json"), expires, sig),  # another path
                         (JOB, PATH, "soon", sig)):
        with pytest.raises(ApiError) as info:
            signer.check(job, p, e, s)
        assert (info.value.status, info.value.code) == (403, "invalid_signature")
    with pytest.raises(ApiError) as info:
        LinkSigner(b"t" * 32, 3600).check(JOB, PATH, expires, sig)  # another server secret
    assert info.value.code == "invalid_signature"


def test_expired_link() -> None:
    signer = LinkSigner(b"s" * 32, ttl_s=1)
    late = int(time.time()) - 5
    sig = signer._sig(JOB, PATH, late)
    with pytest.raises(ApiError) as info:
        signer.check(JOB, PATH, str(late), sig)
    assert (info.value.status, info.value.code) == (403, "link_expired")


def test_links_stay_the_same_between_polls() -> None:
    signer = LinkSigner(b"s" * 32, ttl_s=24 * 3600)
    first = signer.sign(JOB, PATH)
    assert int(parts(first)[1]) % 3600 == 0
    assert signer.sign(JOB, PATH) == first or int(parts(signer.sign(JOB, PATH))[1]) - int(parts(first)[1]) == 3600


def test_secret_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = load_settings({"READOUT_DATA_DIR": str(tmp_path)})
    first = load_secret(settings)
    assert len(first) == 64 and load_secret(settings) == first
    assert stat.S_IMODE(os.stat(tmp_path / "url-secret").st_mode) == 0o600
    assert load_secret(load_settings({"READOUT_DATA_DIR": str(tmp_path), "READOUT_URL_SECRET": "given"})) == b"given"


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = keyed_stack(redis_server.url, tmp_path_factory.mktemp("logs"), READOUT_LINK_TTL="2")
    s.start(workers=1)
    yield s
    s.stop()


async def test_signed_links_against_the_service(http: aiohttp.ClientSession, stack: Stack) -> None:
    job = await submit(http, stack)
    done = await wait_status(http, stack, job["id"])
    for name in ("audio_url", "captions_url", "srt_url", "marks_url", "events_url"):
        assert "expires=" in done[name] and "sig=" in done[name]
        assert all(key not in done[name] for key in KEYS.values())
    async with http.get(stack.url + done["audio_url"]) as resp:  # no Authorization header
        assert resp.status == 200
        signed = await resp.read()
    async with http.get(f"{stack.url}/v1/jobs/{job['id']}/audio", headers=auth()) as resp:
        assert resp.status == 200 and await resp.read() == signed
    async with http.get(stack.url + done["marks_url"]) as resp:
        assert resp.status == 200 and (await resp.json())["sentences"]
    path, expires, sig = parts(done["audio_url"])
    async with http.get(stack.url + path, params={"expires": expires, "sig": "0" * 64}) as resp:
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "invalid_signature"
    async with http.get(stack.url + path, params={"expires": str(int(expires) + 3600), "sig": sig}) as resp:
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "invalid_signature"
    async with http.get(stack.url + path, params={"access_token": KEYS["me"]}) as resp:
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
    # READOUT_LINK_TTL=2: the same link turns into link_expired once its time is up
    deadline = time.monotonic() + 30
    while True:
        async with http.get(stack.url + done["audio_url"]) as resp:
            if resp.status == 403:
                assert (await resp.json())["error"]["code"] == "link_expired"
                assert time.time() >= int(expires)
                break
            assert resp.status == 200
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)


async def test_a_signed_link_is_not_a_key(http: aiohttp.ClientSession, stack: Stack) -> None:
    job = await submit(http, stack)
    path, expires, sig = parts(job["audio_url"])
    status_path = f"/v1/jobs/{job['id']}"
    async with http.get(stack.url + status_path, params={"expires": expires, "sig": sig}) as resp:
        assert resp.status == 403  # a signature is for its own path only
    async with http.delete(stack.url + path, params={"expires": expires, "sig": sig}) as resp:
        assert resp.status in (403, 405)
    async with http.get(f"{stack.url}/v1/jobs", params={"expires": expires, "sig": sig}) as resp:
        assert resp.status == 401
