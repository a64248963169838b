"""The web page in a real browser (Debian's Chromium, headless, driven by Playwright), against
real API and worker processes with API keys on: submitting, listening while the job streams,
a reload and an API restart mid-job, accessibility (axe-core, keyboard), and `/docs`."""
from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import redis
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from yarl import URL

from shared import keys
from tests.chunks import chunk_mp3s
from tests.conftest import CORPUS, ROOT, RedisServer, free_port
from tests.stack import Stack, until
from tests.test_service_e2e import fresh, wait_done

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "tests" / "web" / "node_modules" / "axe-core" / "axe.min.js"  # npm ci --prefix tests/web
KEY = "web-page-test-key"
ESSAY = CORPUS / "federalist-10.txt"
BEARER = {"Authorization": f"Bearer {KEY}"}
DESKTOP = {"width": 1100, "height": 1250}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 60_000  # Playwright's bound on a wait for observable page state


def short_article() -> str:
    """About 1,500 characters: 15 s of fake audio in several chunks (see slow_stack), every
    sentence marked with the same fresh word so that no chunk is in the cache."""
    paragraphs = ESSAY.read_text(encoding="utf-8").split("\n\n")
    text = ""
    for paragraph in paragraphs[1:]:
        if len(text) > 1400:
            break
        text += paragraph + "\n\n"
    tag = fresh("").split()[1].rstrip(".")
    return f"Reading {tag}. " + text.replace(". ", f". {tag} ")


def keyed_stack(redis_server: RedisServer, logs: Path, **env: str) -> Stack:
    return Stack(redis_server.url, free_port(), logs, env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_API_KEYS": f"web:{KEY}", **env})


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = keyed_stack(redis_server, tmp_path_factory.mktemp("logs"), READOUT_DEFAULT_ENGINE="espeak",
                    READOUT_FAKE_LATENCY_MS="150", READOUT_WORKER_CONCURRENCY="4")
    s.start(workers=2)
    yield s
    s.stop()


def own_redis(tmp_path_factory: pytest.TempPathFactory) -> RedisServer:
    """A Redis of its own: the module stack's workers would take jobs from a shared queue."""
    server = RedisServer(port=free_port(), dir=tmp_path_factory.mktemp("own-redis"))
    server.start()
    return server


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One worker making one small chunk at a time: a job streams for several seconds."""
    server = own_redis(tmp_path_factory)
    s = keyed_stack(server, tmp_path_factory.mktemp("slow-logs"), READOUT_FAKE_LATENCY_MS="700",
                    READOUT_WORKER_CONCURRENCY="1", READOUT_CHUNK_TARGET="250", READOUT_CHUNK_MAX="300",
                    READOUT_FIRST_CHUNK_CHARS="120")
    try:
        s.start(workers=1)
        yield s
    finally:
        s.stop()
        server.kill()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def new_page(browser: Browser, errors: list[str], **options) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=options.pop("viewport", DESKTOP), device_scale_factor=1, **options)
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    errors: list[str] = []
    context, page = await new_page(browser, errors)
    yield page
    await context.close()
    assert errors == [], errors


def probe_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout)


async def shoot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    await page.screenshot(path=str(shot), full_page=True)
    return shot


async def open_with_key(page: Page, url: str) -> None:
    """The page with the API key typed in (kept in memory only): the engine list then loads."""
    await page.goto(url)
    await page.wait_for_selector("#key-box[open]")  # the engine list's 401 opened it
    await page.fill("#api-key", KEY)
    await page.dispatch_event("#api-key", "change")
    await page.wait_for_selector("#engine option[value=fake]", state="attached")


async def submit_text(page: Page, text: str, engine: str = "fake") -> str:
    await page.select_option("#engine", engine)
    await page.fill("#article", text)
    await page.click("#submit")
    await page.wait_for_function("/^job [0-9a-f]{32}$/.test(document.querySelector('#job-id').textContent)")
    return (await page.text_content("#job-id") or "").removeprefix("job ").strip()


async def fetch_mp3(base: str, job_id: str, dest: Path) -> Path:
    async with aiohttp.ClientSession(headers=BEARER) as http, http.get(f"{base}/v1/jobs/{job_id}/audio") as resp:
        assert resp.status == 200
        dest.write_bytes(await resp.read())
    return dest


def signed(url: str, path: str) -> bool:
    """`url` is a signed link to `path` (as the status JSON gives them)."""
    parsed = URL(url)
    return parsed.path == path and {"expires", "sig"} <= set(parsed.query)


PLAYER = "document.querySelector('#player')"
EXACT_LENGTH = "#length:text-matches('^Length [0-9:]+$')"  # the whole file is in: no longer an estimate
ARRIVED = f"(() => {{ const b = {PLAYER}.buffered; return b.length ? b.end(b.length - 1) : 0; }})()"


async def test_submit_an_essay_listen_and_download(stack: Stack, page: Page, tmp_path: Path) -> None:
    requests: list[tuple[str, str, dict[str, str]]] = []
    page.on("request", lambda r: requests.append((r.method, r.url, r.headers)))
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
    await page.select_option("#speed", "1.25")

    # Without the key the API says 401 and the page shows it.
    await page.fill("#api-key", "")
    await page.click("#submit")
    await page.wait_for_selector("#message.error:not([hidden])")
    assert "401 unauthorized" in await page.text_content("#message")

    # With the key: the job id goes into the address and the recent list; audio arrives while it
    # streams, with an estimated length, then the exact one.
    await page.fill("#api-key", KEY)
    await page.click("#submit")
    await page.wait_for_function("/^job [0-9a-f]{32}$/.test(document.querySelector('#job-id').textContent)")
    job_id = (await page.text_content("#job-id") or "").removeprefix("job ").strip()
    assert page.url.endswith(f"/?job={job_id}")
    await page.wait_for_selector(f"#recent-list a[href='?job={job_id}']")
    await page.wait_for_function(f"{ARRIVED} > 0")
    await page.wait_for_selector("#progress[data-state=done]")
    assert await page.get_attribute("#progress", "aria-valuenow") == "100"
    await page.wait_for_selector(EXACT_LENGTH)
    duration = await page.evaluate(f"{PLAYER}.duration")

    async with aiohttp.ClientSession(headers=BEARER) as http, http.get(f"{stack.url}/v1/jobs/{job_id}") as resp:
        status = await resp.json()
    mp3 = await fetch_mp3(stack.url, job_id, tmp_path / "page.mp3")
    assert status["status"] == "done"
    assert status["engine"] == "fake"  # picked on the page (the server's default is espeak)
    assert duration == pytest.approx(probe_duration(mp3), rel=0.02)

    # What the page sent: the options in the JSON, the key only ever as a header.
    submitted = [r for r in requests if r[0] == "POST" and r[1].endswith("/v1/jobs")]
    assert submitted, requests
    assert all(KEY not in url for _, url, _ in requests), "the API key must never be in a URL"
    api_calls = [(m, u, h) for m, u, h in requests if "/v1/jobs/" in u]
    assert api_calls and all(h.get("authorization") == f"Bearer {KEY}" for _, _, h in api_calls)
    # Audio and events came through the status JSON's signed links; the first audio request was
    # the live stream (no length): playback could begin before the end.
    audio_gets = [u for m, u, _ in requests if m == "GET" and URL(u).path.endswith("/audio")]
    assert audio_gets and all(signed(u, f"/v1/jobs/{job_id}/audio") for u in audio_gets), audio_gets
    event_gets = [u for m, u, _ in requests if m == "GET" and URL(u).path.endswith("/events")]
    assert event_gets and all(signed(u, f"/v1/jobs/{job_id}/events") for u in event_gets), event_gets

    # Download link (the status JSON's signed audio_url: it works without the key) and the job's stats.
    download = await page.get_attribute("#download", "href") or ""
    assert signed(download, f"/v1/jobs/{job_id}/audio") and URL(download).path == URL(status["audio_url"]).path
    async with aiohttp.ClientSession() as http, http.get(stack.url + download) as resp:
        assert resp.status == 200 and await resp.read() == mp3.read_bytes()
    assert await page.is_visible("#download")
    assert await page.text_content("#stat-chunks") == str(status["chunks"]["total"])
    assert await page.text_content("#stat-hits") == str(status["cache"]["hits"])
    assert await page.text_content("#stat-misses") == str(status["cache"]["misses"])
    assert (await page.text_content("#stat-ttfa") or "").endswith(" s")
    assert await page.is_hidden("#cancel")
    # The player has focus and is on screen: the page moved there when the audio came.
    assert await page.evaluate("document.activeElement.id") == "player"
    assert await page.evaluate(f"(() => {{ const r = {PLAYER}.getBoundingClientRect();"
                               " return r.top >= 0 && r.bottom <= innerHeight; })()")

    await page.wait_for_function(
        "(() => { const f = document.querySelector('#progress-fill'); return f.getBoundingClientRect().width"
        " >= f.parentElement.getBoundingClientRect().width - 0.5; })()")
    shot = await shoot(page, "web-page.png")
    shutil.copy(shot, tmp_path / shot.name)
    print(f"\nscreenshot: {shot}; {status['chunks']['total']} chunks, audio {duration:.1f} s, "
          f"time to first audio {status['time_to_first_audio_seconds']} s")


async def test_the_options_go_into_the_json(stack: Stack, page: Page) -> None:
    bodies: list[dict] = []
    page.on("request", lambda r: bodies.append(json.loads(r.post_data or "{}"))
            if r.method == "POST" and r.url.endswith("/v1/jobs") else None)
    await open_with_key(page, stack.url + "/")
    await page.select_option("#speed", "1.5")
    await page.select_option("#format", "markdown")
    await submit_text(page, fresh("# A title\n\nOne short article."))
    await page.wait_for_selector("#progress[data-state=done]")
    assert bodies[-1]["speed"] == 1.5 and bodies[-1]["format"] == "markdown" and bodies[-1]["engine"] == "fake"
    assert bodies[-1]["voice"] == "fake-a" and "url" not in bodies[-1]

    # A web address instead of text: {"url": ...} with the same options, and no text.
    await page.fill("#article", "")
    await page.fill("#url", "not a url")
    await page.click("#submit")
    await page.wait_for_selector("#message.error:not([hidden])")
    assert "full URL" in (await page.text_content("#message") or "")
    await page.fill("#url", "https://example.com/an-article")
    await page.click("#submit")
    await page.wait_for_function(f"document.querySelector('#message').textContent !== '' && {len(bodies)} >= 2")
    assert bodies[-1]["url"] == "https://example.com/an-article" and "text" not in bodies[-1]
    assert bodies[-1]["speed"] == 1.5 and bodies[-1]["engine"] == "fake"


async def test_a_reload_mid_job_finds_the_job(slow_stack: Stack, page: Page, tmp_path: Path) -> None:
    await open_with_key(page, slow_stack.url + "/")
    await page.check("#remember-key")  # so the reloaded page still has it
    job_id = await submit_text(page, short_article())
    await page.wait_for_function(f"{ARRIVED} > 0")
    assert await page.text_content("#status") == "running"

    await page.reload()
    await page.wait_for_function(f"document.querySelector('#job-id').textContent === 'job {job_id}'")
    assert await page.is_visible("#job")
    await page.wait_for_selector(f"#recent-list a[href='?job={job_id}'][aria-current=page]")
    await page.wait_for_function(f"{ARRIVED} > 0")  # the stream is followed again
    await page.wait_for_selector("#progress[data-state=done]")
    await page.wait_for_selector(EXACT_LENGTH)
    mp3 = await fetch_mp3(slow_stack.url, job_id, tmp_path / "reloaded.mp3")
    assert await page.evaluate(f"{PLAYER}.duration") == pytest.approx(probe_duration(mp3), rel=0.02)

    # A link shared to a browser that has nothing stored: the job comes back once the key is given.
    errors: list[str] = []
    context, other = await new_page(page.context.browser, errors)
    await other.goto(f"{slow_stack.url}/#job={job_id}")
    await other.wait_for_selector("#message.error:not([hidden])")
    assert "401" in (await other.text_content("#message") or "")
    assert await other.get_attribute("#key-box", "open") is not None
    await other.fill("#api-key", KEY)
    await other.dispatch_event("#api-key", "change")
    await other.wait_for_selector("#progress[data-state=done]")
    assert await other.text_content("#job-id") == f"job {job_id}"
    await context.close()
    assert errors == []


@pytest.mark.parametrize("back_when", ["running", "done"])
async def test_an_api_restart_mid_stream_recovers_and_plays_to_the_end(slow_stack: Stack, page: Page, tmp_path: Path,
                                                                       back_when: str) -> None:
    """The API goes away mid-stream and comes back while the job still runs (the page streams
    again, skipping the bytes it has) or once it is done (the page asks for the rest: Range)."""
    audio_requests: list[dict[str, str]] = []
    page.on("request", lambda r: audio_requests.append(r.headers) if URL(r.url).path.endswith("/audio") else None)
    await open_with_key(page, slow_stack.url + "/")
    job_id = await submit_text(page, short_article())
    await page.wait_for_function(f"{ARRIVED} > 0")
    await page.evaluate(f"{PLAYER}.play()")  # user activation: Playwright's evaluate counts as a gesture
    await page.evaluate(f"{PLAYER}.playbackRate = 2")
    async with aiohttp.ClientSession(headers=BEARER) as http, http.get(f"{slow_stack.url}/v1/jobs/{job_id}") as resp:
        before = await resp.json()
    assert before["status"] == "running" and before["chunks"]["done"] < before["chunks"]["total"]
    # While it streams: an estimated length, and a seek past what has arrived stays within it.
    await page.wait_for_selector("#length:has-text('(estimated)')")
    assert re.match(r"^Length about \d+:\d\d \(estimated\)", await page.text_content("#length") or ""), await page.text_content("#length")
    assert await page.evaluate(f"Number.isFinite({PLAYER}.duration)")
    await page.evaluate(f"{PLAYER}.currentTime = 10000")
    await page.wait_for_function(f"{PLAYER}.currentTime > 0 && {PLAYER}.currentTime < {ARRIVED}")
    await page.evaluate(f"{PLAYER}.currentTime = 0")

    worker = slow_stack.workers[0]
    try:
        if back_when == "running":  # held still while the API is away: the job runs on when the page is back
            worker.send_signal(signal.SIGSTOP)
        slow_stack.api.terminate()  # the page loses its audio and its events
        slow_stack.api.wait(timeout=10)
        await page.wait_for_selector("#status[data-status=reconnecting]")
        assert "Connection lost" in (await page.text_content("#live") or "")
        played_at_drop = await page.evaluate(f"{PLAYER}.currentTime")
        await shoot(page, "web-page-reconnecting.png")
        if back_when == "done":  # the worker finishes the job while the API is away
            store = redis.Redis.from_url(slow_stack.redis_url)
            assert await until(lambda: store.hget(keys.job(job_id), "status") == b"done", timeout=60)
            store.close()
            held = await page.evaluate("state.feed.received")
        slow_stack.start_api()
        if back_when == "running":
            await page.wait_for_function("state.offline.size === 0")  # audio and events are back
            assert await page.evaluate("state.status.status") == "running"
    finally:
        worker.send_signal(signal.SIGCONT)  # a no-op unless it was stopped

    await page.wait_for_selector("#progress[data-state=done]")
    await page.wait_for_selector(EXACT_LENGTH)
    assert await page.get_attribute("#status", "data-status") == "done"
    assert await page.get_attribute("#job", "data-connection") is None, await page.evaluate(
        "[[...state.offline], state.feed.complete, document.querySelector('#live').textContent]")
    await page.wait_for_function(f"{PLAYER}.ended")
    current, duration, rate = await page.evaluate(f"[{PLAYER}.currentTime, {PLAYER}.duration, {PLAYER}.playbackRate]")
    assert current == pytest.approx(duration, abs=0.05)
    assert current > played_at_drop
    assert rate == 2  # the listener's rate stayed
    mp3 = await fetch_mp3(slow_stack.url, job_id, tmp_path / "restart.mp3")
    assert duration == pytest.approx(probe_duration(mp3), rel=0.02)
    received, switched = await page.evaluate("[state.feed.received, Boolean(state.feed.switched)]")
    if back_when == "running":  # the stream again, the held bytes skipped: every chunk's MP3 once, none twice
        chunks = await chunk_mp3s(slow_stack, job_id)
        assert all(c is not None for c in chunks)
        assert not switched and received == sum(len(c) for c in chunks)
    else:  # the stream's bytes are not the finished file's (one encode of the whole): no Range splice,
        # the element plays the file itself from the played position, through the signed link
        assert switched and received == held
        assert "authorization" not in audio_requests[-1]


async def axe(page: Page) -> list[dict]:
    assert AXE.is_file(), f"{AXE} is missing: run npm ci --prefix tests/web (scripts/test.sh does)"
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5],
             "summary": v["nodes"][0].get("failureSummary", "")[:300]} for v in result["violations"]]


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_axe_finds_no_violations(stack: Stack, browser: Browser, scheme: str) -> None:
    errors: list[str] = []
    context, page = await new_page(browser, errors, color_scheme=scheme)
    await open_with_key(page, stack.url + "/")
    assert await axe(page) == []
    await submit_text(page, fresh("An accessible article. It has two sentences."))
    await page.wait_for_selector("#progress[data-state=done]")
    await page.wait_for_selector(EXACT_LENGTH)
    assert await axe(page) == []
    await shoot(page, f"web-page-{scheme}.png")
    # The states a listener also sees: an error message and a lost connection.
    await page.evaluate("showMessage('Something went wrong (500 test)', true); connectionLost('audio', 1000)")
    assert await axe(page) == []
    await page.goto(stack.url + "/docs")
    await page.wait_for_selector("body[data-rendered=true]")
    await page.click("#op-submitJob summary")
    assert await axe(page) == []
    await context.close()
    assert errors == []


WIDER = """[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > innerWidth + 1)
  .slice(0, 5).map((e) => `${e.tagName}.${e.className} ${e.textContent.slice(0, 40)}`)"""  # what sticks out
NAME = "(el) => el.id || `${el.getAttribute('href') || ''} ${el.textContent.trim()}`.trim()"
FOCUSABLE = f"""[...document.querySelectorAll('a[href], button, input, select, textarea, summary, audio[controls], [tabindex]')]
  .filter((el) => !el.disabled && el.tabIndex >= 0 && el.getClientRects().length
          && getComputedStyle(el).visibility !== 'hidden' && !el.closest('[hidden], details:not([open]) > :not(summary)'))
  .map({NAME})"""


async def tab_cycle(page: Page, expected: list[str]) -> list[str]:
    """What Tab visits from the first control to the last expected one (staying in the page:
    Chromium opens no file chooser once focus has left it)."""
    await page.focus(".top nav a")
    seen: list[str] = [await page.evaluate(f"({NAME})(document.activeElement)")]
    for _ in range(120):
        if seen[-1] == expected[-1]:
            break
        await page.keyboard.press("Tab")
        name = await page.evaluate(f"(() => {{ const el = document.activeElement;"
                                   f" return !el || el === document.body ? null : ({NAME})(el); }})()")
        if name == seen[-1]:
            continue  # inside one element's own controls (the player's buttons)
        if name is None or name in seen:
            break
        seen.append(name)
    return seen


async def test_every_control_is_reachable_and_usable_by_keyboard(stack: Stack, page: Page) -> None:
    # Playwright turns on file chooser interception without waiting for it: a listener added
    # before the page loads makes sure it is on before Enter is pressed.
    page.on("filechooser", lambda chooser: None)
    await page.goto(stack.url + "/")
    # The engine list needs the key: its 401 opens the key box, and the key is typed from the keyboard.
    await page.wait_for_selector("#key-box[open]")
    await page.focus("#api-key")
    await page.keyboard.type(KEY)
    await page.wait_for_selector("#engine option[value=fake]", state="attached")
    # The file chooser opens from the keyboard.
    await page.focus("#choose-file")
    async with page.expect_file_chooser() as chooser:
        await page.keyboard.press("Enter")
    await (await chooser.value).set_files(str(ESSAY))
    await page.wait_for_function("document.querySelector('#article').value.length > 10000")
    expected = await page.evaluate(FOCUSABLE)
    visited = await tab_cycle(page, expected)
    assert set(expected) <= set(visited), set(expected) - set(visited)
    for control in ("choose-file", "article", "url", "format", "engine", "voice", "speed", "submit"):
        assert control in visited

    # The key box closes and opens with Enter; its field is then in the tab order; Enter in a field submits.
    await page.focus("#key-box summary")
    await page.keyboard.press("Enter")
    assert await page.get_attribute("#key-box", "open") is None
    await page.keyboard.press("Enter")
    assert await page.get_attribute("#key-box", "open") is not None
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "api-key"
    assert await page.input_value("#api-key") == KEY
    await page.focus("#article")
    await page.fill("#article", fresh("Typed and sent with the keyboard. Two sentences."))
    await page.focus("#engine")
    await page.keyboard.press("End")  # selects are usable from the keyboard too
    await page.select_option("#engine", "fake")
    await page.focus("#submit")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#progress[data-state=done]")
    await page.wait_for_selector(EXACT_LENGTH)

    # With a finished job every new control is reachable too: player, download, copy, recent list.
    expected = await page.evaluate(FOCUSABLE)
    visited = await tab_cycle(page, expected)
    assert set(expected) <= set(visited), set(expected) - set(visited)
    for control in ("player", "download", "copy-link", "forget", "api-key"):
        assert control in visited
    await page.evaluate(f"{PLAYER}.pause(); {PLAYER}.currentTime = 0")
    await page.focus("#player")
    await page.keyboard.press("Space")  # the player's own keyboard controls: play
    await page.wait_for_function(f"!{PLAYER}.paused")


async def test_the_page_fits_a_phone(stack: Stack, browser: Browser) -> None:
    errors: list[str] = []
    context, page = await new_page(browser, errors, viewport=PHONE)
    await open_with_key(page, stack.url + "/")
    await submit_text(page, fresh("A phone-sized article. It is short."))
    await page.wait_for_selector("#progress[data-state=done]")
    assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    await shoot(page, "web-page-phone.png")
    await page.goto(stack.url + "/docs")
    await page.wait_for_selector("body[data-rendered=true]")
    for op in await page.locator("details.op").all():
        await op.evaluate("(el) => { el.open = true; }")
    assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth"), await page.evaluate(WIDER)
    await shoot(page, "docs-page-phone.png")
    await context.close()
    assert errors == []


async def test_docs_page_renders_every_operation_and_schema(stack: Stack, page: Page) -> None:
    async with aiohttp.ClientSession() as http, http.get(stack.url + "/openapi.json") as resp:
        doc = await resp.json()
    operations = sum(1 for item in doc["paths"].values() for m in item if m in ("get", "post", "put", "patch", "delete"))
    await page.goto(stack.url + "/docs")
    await page.wait_for_selector("body[data-rendered=true]")
    assert await page.locator("details.op").count() == operations
    for op in await page.locator("details.op").all():
        await op.evaluate("(el) => { el.open = true; }")
    text = await page.inner_text("body")
    assert "[object Object]" not in text and "undefined" not in text
    assert f"Version {doc['info']['version']}" in text
    for name, schema in doc["components"]["schemas"].items():
        section = page.locator(f"#schema-{name}")
        assert await section.count() == 1, name
        shown = await section.inner_text()
        for prop in schema.get("properties", {}):  # every field, nested ones in their own rows
            assert prop in shown, (name, prop)
    engines = await page.inner_text("#schema-Engines")
    assert "default_voice" in engines and "language" in engines  # items of an array of objects
    job = await page.inner_text("#schema-Job")
    assert "cancelled" in job and "hits" in job  # an enum and a nested object
    assert await page.is_visible("#op-createSpeech >> text=unsupported_response_format")  # an error code shown
    await shoot(page, "docs-page.png")


async def test_transcript_and_chapters_from_marks(stack: Stack, page: Page) -> None:
    """The page's side of captions, against the API's own `marks.json` (fetched through the status
    JSON's signed `marks_url`): the transcript and chapters show, the current sentence follows
    playback, and a sentence or chapter seeks to where the file says it is. A 404 shows nothing."""
    article = ("# Opening\n\nFirst sentence of the test. A second one follows.\n\n"
               "# Chapter two\n\nThe third is in chapter two. And a last.")
    async with aiohttp.ClientSession(headers=BEARER) as http:
        async with http.post(f"{stack.url}/v1/jobs", json={"text": fresh(article), "format": "markdown",
                                                           "engine": "fake"}) as resp:
            job_id = (await resp.json())["id"]
        status = await wait_done(http, stack.url, job_id)
        assert status["status"] == "done"
        async with http.get(f"{stack.url}/v1/jobs/{job_id}/marks.json") as resp:
            assert resp.status == 200
            marks = await resp.json()
    sentences = [s["text"] for s in marks["sentences"]]
    assert [c["title"] for c in marks["chapters"]] == ["Opening", "Chapter two"]
    assert len(sentences) >= 4 and sentences[-1] == "And a last."
    second = marks["chapters"][1]["start_ms"]
    # The sentence playing at chapter two's start: the last one starting at or before it.
    at_second = max(i for i, s in enumerate(marks["sentences"]) if s["start_ms"] <= second)
    assert marks["sentences"][at_second]["chapter"] == 1
    marks_gets: list[str] = []
    page.on("request", lambda r: marks_gets.append(r.url) if URL(r.url).path.endswith("/marks.json") else None)

    await page.goto(f"{stack.url}/?job={job_id}")
    await page.fill("#api-key", KEY)  # the key box opened at the 401
    await page.dispatch_event("#api-key", "change")
    await page.wait_for_selector("#transcript:not([hidden]) .sentence")
    assert await page.locator(".sentence").all_inner_texts() == sentences
    assert await page.locator("#chapter-list button").count() == 2
    assert "Chapter two" in (await page.text_content("#chapter-list li:nth-child(2) button") or "")
    assert marks_gets and all(signed(url, f"/v1/jobs/{job_id}/marks.json") for url in marks_gets), marks_gets

    await page.click("#chapter-list li:nth-child(2) button")  # seeks to chapter two
    await page.wait_for_function(f"Math.abs({PLAYER}.currentTime * 1000 - {second}) < 150")
    await page.evaluate(f"{PLAYER}.pause()")
    await page.wait_for_selector(f".sentence[data-index='{at_second}'][aria-current=true]")
    await page.click(".sentence[data-index='1']")
    await page.wait_for_function(
        f"Math.abs({PLAYER}.currentTime * 1000 - {marks['sentences'][1]['start_ms']}) < 150")
    await page.wait_for_selector(".sentence[data-index='1'][aria-current=true]")
    # One tab stop for the transcript; arrows move and Enter seeks.
    await page.focus(".sentence[data-index='1']")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowDown")
    assert await page.evaluate("document.activeElement.dataset.index") == "3"
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".sentence[data-index='3'][aria-current=true]")
    assert await page.locator(".sentence[tabindex='0']").count() == 1
    assert await axe(page) == []
    await shoot(page, "web-page-transcript.png")

    # A job whose marks are gone (404, routed in the browser: a finished job always has them): nothing shows.
    async def gone(route) -> None:
        await route.fulfill(status=404, json={"error": {"code": "not_found", "message": "no marks"}})

    await page.route("**/marks.json*", gone)
    await page.reload()
    await page.fill("#api-key", KEY)
    await page.dispatch_event("#api-key", "change")
    await page.wait_for_selector("#progress[data-state=done]")
    await page.wait_for_selector(EXACT_LENGTH)
    assert await page.is_hidden("#transcript") and await page.is_hidden("#chapters")


async def test_a_real_piper_conversion_for_the_readme(browser: Browser, tmp_path_factory: pytest.TempPathFactory,
                                                      tmp_path: Path) -> None:
    """A short article through the default engine, Piper, as a user would (no key on loopback);
    the page's length matches the file. Its screenshot is the README's (docs/web-page.png)."""
    server = own_redis(tmp_path_factory)
    s = Stack(server.url, free_port(), tmp_path / "logs", env={"READOUT_DEFAULT_ENGINE": "piper"})
    errors: list[str] = []
    try:
        s.start(workers=1)
        context, page = await new_page(browser, errors)
        await page.goto(s.url + "/")
        await page.wait_for_selector("#engine option[value=piper]", state="attached")
        opening = ESSAY.read_text(encoding="utf-8").split("\n\n")[7]  # the essay's first three sentences
        await page.fill("#article", "Federalist No. 10, by James Madison.\n\n" + ". ".join(opening.split(". ")[:3]) + ".")
        await page.click("#submit")
        await page.wait_for_selector("#progress[data-state=done]")
        await page.wait_for_selector(EXACT_LENGTH)
        job_id = (await page.text_content("#job-id") or "").removeprefix("job ").strip()
        async with aiohttp.ClientSession() as http, http.get(f"{s.url}/v1/jobs/{job_id}") as resp:
            status = await resp.json()
            assert status["engine"] == "piper"
        async with aiohttp.ClientSession() as http, http.get(f"{s.url}/v1/jobs/{job_id}/audio") as resp:
            (tmp_path / "piper.mp3").write_bytes(await resp.read())
        duration = await page.evaluate(f"{PLAYER}.duration")
        assert duration == pytest.approx(probe_duration(tmp_path / "piper.mp3"), rel=0.02)
        bytes_per_second = (tmp_path / "piper.mp3").stat().st_size / duration
        assert bytes_per_second == pytest.approx(8000, rel=0.03)  # 64 kbps, the README's sizing figure
        await page.evaluate(f"{PLAYER}.pause(); {PLAYER}.currentTime = {duration / 3}")
        await page.wait_for_function(
            "(() => { const f = document.querySelector('#progress-fill'); return f.getBoundingClientRect().width"
            " >= f.parentElement.getBoundingClientRect().width - 0.5; })()")
        await page.evaluate("window.scrollTo(0, 0)")
        shot = await shoot(page, "web-page-piper.png")
        print(f"\nscreenshot: {shot}; {status['characters']} characters, {status['chunks']['total']} chunks, "
              f"audio {duration:.1f} s, first audio {status['time_to_first_audio_seconds']} s, "
              f"total {status['duration_seconds']} s, {bytes_per_second:.0f} B/s, "
              f"{status['characters'] / duration * 60:.0f} characters a minute")
        await context.close()
    finally:
        s.stop()
        server.kill()
    assert errors == []


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
