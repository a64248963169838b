"""The web page in a real browser (Debian's Chromium, headless, driven by Playwright), against
real API and worker processes with API keys on; and the signed links the page plays (no key in a URL)."""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import CORPUS, ROOT, RedisServer, free_port
from tests.stack import Stack
from tests.test_service_e2e import fresh, wait_done

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
KEY = "web-page-test-key"
ESSAY = CORPUS / "federalist-10.txt"
BEARER = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"), env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "espeak", "READOUT_FAKE_LATENCY_MS": "150",
        "READOUT_WORKER_CONCURRENCY": "4", "READOUT_API_KEYS": f"web:{KEY}",
    })
    s.start(workers=2)
    yield s
    s.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1100, "height": 1250}, device_scale_factor=1)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    await context.close()
    assert errors == [], errors


def probe_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout)


async def test_submit_an_essay_listen_and_download(stack: Stack, page: Page, tmp_path: Path) -> None:
    audio_responses: list[tuple[int, dict[str, str]]] = []
    page.on("response", lambda r: audio_responses.append((r.status, r.headers)) if "/audio" in r.url else None)
    await page.goto(stack.url + "/")
    # Without the key the API says 401 (the engine list needs one too) and the page shows it.
    await page.wait_for_selector("#message.error:not([hidden])")
    assert "401 unauthorized" in await page.text_content("#message")
    await page.fill("#api-key", KEY)  # the engine list loads once a key is typed
    await page.wait_for_selector("#engine option[value=fake]", state="attached")
    await page.select_option("#engine", "fake")
    assert await page.input_value("#voice") == "fake-a"  # the engine's default voice, from /v1/engines
    await page.set_input_files("#file", str(ESSAY))
    await page.wait_for_function("document.querySelector('#article').value.length > 10000")
    assert await page.input_value("#format") == "text"

    # With the key: submit, the bar reaches 100%, the audio plays from the stream, then has a length.
    await page.click("#submit")
    await page.wait_for_function("document.querySelector('#progress').getAttribute('aria-valuenow') === '100'")
    await page.wait_for_selector("#progress[data-state=done]")
    job_id = (await page.text_content("#job-id") or "").removeprefix("job ").strip()
    await page.wait_for_function("Number.isFinite(document.querySelector('#player').duration)")
    duration = await page.evaluate("document.querySelector('#player').duration")

    async with aiohttp.ClientSession(headers=BEARER) as http:
        async with http.get(f"{stack.url}/v1/jobs/{job_id}") as resp:
            status = await resp.json()
        async with http.get(f"{stack.url}/v1/jobs/{job_id}/audio") as resp:
            mp3 = tmp_path / "page.mp3"
            mp3.write_bytes(await resp.read())
    assert status["status"] == "done"
    assert status["engine"] == "fake"  # picked on the page (the server's default is espeak)
    assert duration == pytest.approx(probe_duration(mp3), rel=0.02)
    # The first audio request was the live stream (chunked, no length): playback began before the end.
    assert audio_responses and audio_responses[0][0] == 200
    assert "content-length" not in audio_responses[0][1]

    # Download link and the job's stats.
    href = await page.get_attribute("#download", "href")
    assert href is not None and href.startswith(f"/v1/jobs/{job_id}/audio?expires=") and "&sig=" in href
    assert KEY not in href
    assert await page.is_visible("#download")
    assert await page.text_content("#stat-chunks") == str(status["chunks"]["total"])
    assert await page.text_content("#stat-hits") == str(status["cache"]["hits"])
    assert await page.text_content("#stat-misses") == str(status["cache"]["misses"])
    assert (await page.text_content("#stat-ttfa") or "").endswith(" s")
    assert await page.is_hidden("#cancel")

    # Let the bar's width transition finish, then keep a screenshot.
    await page.wait_for_function(
        "(() => { const f = document.querySelector('#progress-fill'); return f.getBoundingClientRect().width"
        " >= f.parentElement.getBoundingClientRect().width - 0.5; })()")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "web-page.png"
    await page.screenshot(path=str(shot), full_page=True)
    shutil.copy(shot, tmp_path / shot.name)
    print(f"\nscreenshot: {shot}; {status['chunks']['total']} chunks, audio {duration:.1f} s, "
          f"time to first audio {status['time_to_first_audio_seconds']} s")


async def test_docs_page_renders_every_operation(stack: Stack, page: Page) -> None:
    async with aiohttp.ClientSession() as http, http.get(stack.url + "/openapi.json") as resp:
        doc = await resp.json()
    operations = sum(1 for item in doc["paths"].values() for m in item if m in ("get", "post", "put", "patch", "delete"))
    await page.goto(stack.url + "/docs")
    await page.wait_for_selector("body[data-rendered=true]")
    assert await page.locator("details.op").count() == operations
    await page.click("#op-createSpeech summary")
    assert await page.is_visible("#op-createSpeech >> text=unsupported_response_format")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "docs-page.png"))


async def test_signed_links_play_without_a_key_and_access_token_is_gone(stack: Stack) -> None:
    """Browsers' <audio> and EventSource cannot send headers: they use the status JSON's signed links."""
    token = {"access_token": KEY}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{stack.url}/v1/jobs", json={"text": fresh("Token test. Short."), "engine": "fake"},
                             headers=BEARER) as resp:
            assert resp.status == 202
            job = await resp.json()
        async with aiohttp.ClientSession(headers=BEARER) as keyed:
            await wait_done(keyed, stack.url, job["id"])
        async with http.get(stack.url + job["events_url"]) as resp:
            assert resp.status == 200
            assert "event: done" in (await resp.text()).replace("\r\n", "\n")
        async with http.get(stack.url + job["audio_url"]) as resp:
            assert resp.status == 200
            assert len(await resp.read()) == int(resp.headers["Content-Length"]) > 0
        for path in (f"/v1/jobs/{job['id']}/audio", f"/v1/jobs/{job['id']}/events"):
            async with http.get(stack.url + path, params=token) as resp:
                assert resp.status == 401, path  # the key in a URL is refused everywhere
        for method, path in (("GET", job["status_url"]), ("DELETE", job["status_url"]), ("POST", "/v1/jobs")):
            async with http.request(method, stack.url + path, params=token, json={"text": "x"}) as resp:
                assert resp.status == 401, (method, path)
                assert (await resp.json())["error"]["code"] == "unauthorized"
