"""The `readout` CLI as a user meets it: real API and worker processes (fake engine), the CLI as a subprocess.

For every failure: no traceback, one clear line, the documented exit code, and no file at
`-o` unless the job finished.
"""
from __future__ import annotations

import asyncio
import json
import os
import pty
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import CORPUS, ROOT, RedisServer, free_port
from tests.stack import POLL_S, Stack
from tests.test_openai_compat import decoded_seconds
from tests.test_service_e2e import ffprobe_duration, fresh

pytestmark = pytest.mark.slow

KEY = "sk-cli-test"
ESSAY = (CORPUS / "federalist-10.txt").read_text(encoding="utf-8")
SHORT = "A short article for the command line. It has two sentences."
WAIT_S = 60  # bound of every poll below


def stack_env(**extra: str) -> dict[str, str]:
    return {"READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_API_KEYS": f"tester:{KEY}",
            "READOUT_WORKER_CONCURRENCY": "1", **extra}


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Slow enough (300 ms a chunk, one at a time) that a long article is still streaming when we act."""
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"),
              env=stack_env(READOUT_FAKE_LATENCY_MS="300"))
    s.start(workers=1)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def failing(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Every provider call fails for good (its own Redis database, so its own queue)."""
    s = Stack(redis_server.url.rsplit("/", 1)[0] + "/1", free_port(), tmp_path_factory.mktemp("logs-failing"),
              env=stack_env(READOUT_FAKE_LATENCY_MS="20", READOUT_FAKE_FAIL_HARD="1"))
    s.start(workers=1)
    yield s
    s.stop()


def cli_env(key: str | None = KEY) -> dict[str, str]:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    if key:
        env["READOUT_API_KEY"] = key
    return env


def readout(url: str, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", "--url", url, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=cli_env(key))


def readout_on_terminal(url: str, *args: str) -> tuple[int, str]:
    """(exit code, stdout) with stdout on a pseudo-terminal, where the CLI writes for people."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "--url", url, *args], cwd=ROOT, env=cli_env(),
                            stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode().replace("\r\n", "\n")


def start_readout(url: str, *args: str, stderr_file: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "api.cli", "--url", url, *args], cwd=ROOT, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=stderr_file.open("w"), text=True)


def assert_clean_failure(out: subprocess.CompletedProcess[str] | tuple[int, str], code: int) -> str:
    returncode, stderr = (out.returncode, out.stderr) if isinstance(out, subprocess.CompletedProcess) else out
    assert "Traceback" not in stderr, stderr
    assert returncode == code, stderr
    assert stderr.startswith("readout: "), stderr
    return stderr


def no_audio_in(folder: Path) -> bool:
    """Neither a file at -o nor a leftover temporary file."""
    return not [p for p in folder.iterdir() if p.suffix in (".mp3", ".part", ".opus")]


def write(tmp_path: Path, text: str, name: str = "article.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def poll(check, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"{what} not seen in {WAIT_S} s"
        time.sleep(POLL_S)


def job_id_from(stderr_file: Path) -> str | None:
    for line in stderr_file.read_text().splitlines():
        if line.startswith("readout: job ") and line.endswith(" submitted"):
            return line.split()[2]
    return None


def streaming(folder: Path) -> bool:
    """The CLI holds some audio in its temporary file."""
    return any(p.stat().st_size > 0 for p in folder.glob(".*.part"))


def get_keyed(stack: Stack, path: str) -> dict:
    request = urllib.request.Request(stack.url + path, headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def job_status(stack: Stack, job_id: str) -> dict:
    return get_keyed(stack, f"/v1/jobs/{job_id}")


def jobs_count(stack: Stack) -> int:
    return sum(get_keyed(stack, "/v1/stats")["jobs"].values())


def test_help_names_every_command_option_environment_variable_and_exit_code() -> None:
    top = subprocess.run([sys.executable, "-m", "api.cli", "--help"], cwd=ROOT, capture_output=True, text=True, check=True)
    for word in ("convert", "submit", "status", "download", "cancel", "engines", "jobs", "stats", "serve", "--json",
                 "--url", "READOUT_URL", "READOUT_API_KEY", "130", "interrupted", "unreachable", "finished file",
                 "readout serve --help"):
        assert word in top.stdout, word
    convert = subprocess.run([sys.executable, "-m", "api.cli", "convert", "--help"], cwd=ROOT, capture_output=True,
                             text=True, check=True)
    for option in ("--engine", "--voice", "--speed", "--format", "--audio-format", "--cancel-on-interrupt", "-o"):
        assert option in convert.stdout, option
    serve = subprocess.run([sys.executable, "-m", "api.cli", "serve", "--help"], cwd=ROOT, capture_output=True,
                           text=True, check=True)
    assert "--workers" in serve.stdout and "REDIS_URL" in serve.stdout
    from importlib.metadata import version
    out = subprocess.run([sys.executable, "-m", "api.cli", "--version"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"readout {version('readout')}"


def test_convert_writes_a_complete_file_and_reports_the_job(stack: Stack, tmp_path: Path) -> None:
    article = write(tmp_path, fresh(SHORT))
    out = readout(stack.url, "convert", str(article), "-o", str(tmp_path / "out.mp3"), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert f"readout: job {summary['job']} submitted" in out.stderr
    assert (tmp_path / "out.mp3").stat().st_size == summary["bytes"] > 0
    assert not list(tmp_path.glob(".*.part"))
    status = job_status(stack, summary["job"])
    assert status["status"] == "done"
    # what lands is the job's finished file (tagged, encoded once, exact length), not the joined live chunks
    assert (tmp_path / "out.mp3").read_bytes()[:3] == b"ID3"
    assert summary["bytes"] == status["audio"]["bytes"]
    assert status["audio"]["duration_seconds"] > 0.3
    assert decoded_seconds(tmp_path / "out.mp3", "mp3") == pytest.approx(status["audio"]["duration_seconds"], abs=0.03)
    code, human = readout_on_terminal(stack.url, "status", summary["job"])
    assert code == 0 and human.startswith(f"{summary['job']}  done"), human
    piped = readout(stack.url, "status", summary["job"])  # not a terminal: JSON
    assert json.loads(piped.stdout)["status"] == "done"


def test_convert_to_opus_by_the_output_extension(stack: Stack, tmp_path: Path) -> None:
    article = write(tmp_path, fresh(SHORT))
    code, out = readout_on_terminal(stack.url, "convert", str(article), "-o", str(tmp_path / "out.opus"), "-q")
    assert code == 0 and out.startswith(f"wrote {tmp_path / 'out.opus'} "), out
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                            str(tmp_path / "out.opus")], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "opus"


@pytest.mark.parametrize("case", ["missing", "directory", "no-scheme-article", "ftp"])
def test_a_bad_article_argument_is_a_usage_error(stack: Stack, tmp_path: Path, case: str) -> None:
    article = {"missing": str(tmp_path / "nope.txt"), "directory": str(tmp_path),
               "no-scheme-article": "example.com/some/article", "ftp": "ftp://example.com/a.txt"}[case]
    before = jobs_count(stack)
    out = readout(stack.url, "convert", article, "-o", str(tmp_path / "out.mp3"))
    message = assert_clean_failure(out, 2)
    assert len(message.strip().splitlines()) == 1
    assert no_audio_in(tmp_path)
    assert jobs_count(stack) == before
    if case == "no-scheme-article":
        assert "https://" in message


def test_an_unwritable_output_is_reported_before_submitting(stack: Stack, tmp_path: Path) -> None:
    article = write(tmp_path, fresh(SHORT))
    blocker = write(tmp_path, "a file", "not-a-folder")
    before = jobs_count(stack)
    for target in (blocker / "out.mp3", tmp_path):  # under a file; a directory
        out = readout(stack.url, "convert", str(article), "-o", str(target))
        assert str(target) in assert_clean_failure(out, 2)
    assert jobs_count(stack) == before
    assert no_audio_in(tmp_path)


def test_an_unreachable_server_and_a_server_url_without_a_scheme(tmp_path: Path) -> None:
    article = write(tmp_path, SHORT)
    dead = f"http://127.0.0.1:{free_port()}"
    for args in (("convert", str(article), "-o", str(tmp_path / "out.mp3")), ("status", "0" * 32), ("engines",)):
        message = assert_clean_failure(readout(dead, *args), 3)
        assert "cannot reach" in message and dead in message
    unknown_host = assert_clean_failure(readout("http://no-such-host.invalid", "engines"), 3)
    assert "cannot reach" in unknown_host
    assert "scheme" in assert_clean_failure(readout("127.0.0.1:8000", "engines"), 2)
    assert no_audio_in(tmp_path)


def test_a_wrong_or_missing_key(stack: Stack, tmp_path: Path) -> None:
    article = write(tmp_path, fresh(SHORT))
    for key in ("sk-wrong", None):
        out = readout(stack.url, "convert", str(article), "-o", str(tmp_path / "out.mp3"), key=key)
        assert "READOUT_API_KEY" in assert_clean_failure(out, 3)
    assert no_audio_in(tmp_path)


def test_a_failed_job_prints_the_servers_error(failing: Stack, tmp_path: Path) -> None:
    article = write(tmp_path, fresh(ESSAY))
    out = readout(failing.url, "convert", str(article), "-o", str(tmp_path / "out.mp3"))
    message = assert_clean_failure(out, 1)
    job_id = job_id_from(write(tmp_path, out.stderr, "stderr.log"))
    assert job_id and f"job {job_id} failed: provider_failed: " in message and "simulated permanent failure" in message
    assert no_audio_in(tmp_path)


def test_sigint_mid_stream_leaves_the_job_running_and_says_how_to_resume(stack: Stack, tmp_path: Path) -> None:
    article = write(tmp_path, fresh(ESSAY))
    target = tmp_path / "out.mp3"
    log = tmp_path / "stderr.log"
    proc = start_readout(stack.url, "convert", str(article), "-o", str(target), stderr_file=log)
    poll(lambda: job_id_from(log) is not None, "the job id")
    job_id = job_id_from(log)
    poll(lambda: streaming(tmp_path), "audio arriving")
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=WAIT_S)
    message = assert_clean_failure((proc.returncode, log.read_text()), 130)
    assert f"readout download {job_id} -o {target}" in message and f"readout cancel {job_id}" in message
    assert no_audio_in(tmp_path)
    status = job_status(stack, job_id)
    assert status["status"] in ("running", "done")
    # The printed command resumes: the whole file, once the job is done.
    resumed = readout(stack.url, "download", job_id, "-o", str(target), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert ffprobe_duration(target) == pytest.approx(job_status(stack, job_id)["audio"]["duration_seconds"], abs=0.15)


def test_sigint_with_cancel_on_interrupt_cancels_the_job(stack: Stack, tmp_path: Path) -> None:
    article = write(tmp_path, fresh(ESSAY))
    log = tmp_path / "stderr.log"
    proc = start_readout(stack.url, "convert", str(article), "-o", str(tmp_path / "out.mp3"), "--cancel-on-interrupt",
                         stderr_file=log)
    poll(lambda: streaming(tmp_path), "audio arriving")
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=WAIT_S)
    job_id = job_id_from(log)
    assert f"job {job_id} is cancelled" in assert_clean_failure((proc.returncode, log.read_text()), 130)
    assert no_audio_in(tmp_path)
    assert job_status(stack, job_id)["status"] == "cancelled"
    # It has no audio: a download says so (exit 1) and writes nothing.
    assert "cancelled" in assert_clean_failure(readout(stack.url, "download", job_id, "-o", str(tmp_path / "x.mp3")), 1)
    assert no_audio_in(tmp_path)


def test_cancel_command(stack: Stack, tmp_path: Path) -> None:
    submitted = readout(stack.url, "submit", str(write(tmp_path, fresh(ESSAY))))
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["id"]
    out = readout(stack.url, "cancel", job_id, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "cancelled"
    assert readout(stack.url, "cancel", job_id).returncode == 0  # cancelling again changes nothing
    done = json.loads(readout(stack.url, "convert", str(write(tmp_path, fresh(SHORT))), "-o", str(tmp_path / "a.mp3"),
                              "--json").stdout)
    assert "nothing to cancel" in assert_clean_failure(readout(stack.url, "cancel", done["job"]), 1)
    assert job_status(stack, done["job"])["status"] == "done"  # cancelling a finished job leaves it (and its file)
    assert "job_not_found" in assert_clean_failure(readout(stack.url, "cancel", "f" * 32), 1)


def test_api_killed_mid_stream_then_restarted_the_cli_finishes_the_file(stack: Stack, tmp_path: Path) -> None:
    article = write(tmp_path, fresh(ESSAY))
    target = tmp_path / "out.mp3"
    log = tmp_path / "stderr.log"
    proc = start_readout(stack.url, "convert", str(article), "-o", str(target), "--json", stderr_file=log)
    poll(lambda: streaming(tmp_path), "audio arriving")
    assert stack.api is not None
    stack.api.kill()
    stack.api.wait()
    assert not target.exists()
    stack.start_api()
    stdout, _ = proc.communicate(timeout=WAIT_S)
    assert "Traceback" not in log.read_text() and proc.returncode == 0, log.read_text()
    summary = json.loads(stdout)
    assert summary["bytes"] == target.stat().st_size
    assert ffprobe_duration(target) == pytest.approx(job_status(stack, summary["job"])["audio"]["duration_seconds"],
                                                     abs=0.15)


def test_api_killed_mid_stream_for_good(stack: Stack, tmp_path: Path) -> None:
    article = write(tmp_path, fresh(ESSAY))
    log = tmp_path / "stderr.log"
    proc = start_readout(stack.url, "convert", str(article), "-o", str(tmp_path / "out.mp3"), "--reconnect", "1",
                         stderr_file=log)
    poll(lambda: streaming(tmp_path), "audio arriving")
    assert stack.api is not None
    stack.api.kill()
    stack.api.wait()
    try:
        proc.wait(timeout=WAIT_S)
        job_id = job_id_from(log)
        message = assert_clean_failure((proc.returncode, log.read_text()), 3)
        assert "cannot reach" in message and f"readout download {job_id}" in message
        assert no_audio_in(tmp_path)
    finally:
        stack.start_api()


def test_engines_and_stats(stack: Stack) -> None:
    code, human = readout_on_terminal(stack.url, "engines")
    assert code == 0 and "fake (default): 2 voices" in human
    listed = json.loads(readout(stack.url, "engines", "--json").stdout)
    assert "fake" in {e["name"] for e in listed["engines"]}
    stats = readout(stack.url, "stats", "--json")
    assert stats.returncode == 0 and "providers" in json.loads(stats.stdout)


def test_jobs_lists_the_callers_jobs_or_says_the_server_has_no_list(stack: Stack, tmp_path: Path) -> None:
    job_id = json.loads(readout(stack.url, "submit", str(write(tmp_path, fresh(SHORT)))).stdout)["id"]
    out = readout(stack.url, "jobs", "--limit", "5", "--json")
    try:
        available = "jobs" in get_keyed(stack, "/v1/jobs?limit=5")
    except urllib.error.HTTPError:
        available = False
    if available:  # the job list (GET /v1/jobs) exists on this server
        assert out.returncode == 0, out.stderr
        assert job_id in {j["id"] for j in json.loads(out.stdout)["jobs"]}
    else:
        assert "no job list" in assert_clean_failure(out, 1)


@asynccontextmanager
async def local_server(app: web.Application) -> AsyncIterator[int]:
    """`app` served on a free loopback port for the block; yields the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


async def test_a_url_argument_is_sent_as_url_with_the_options(tmp_path: Path) -> None:
    """The body POST /v1/jobs gets for `readout submit https://...` (recorded by a local aiohttp server)."""
    seen: list[dict] = []

    async def create(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.json_response({"id": "a" * 32, "status": "queued"}, status=202)

    app = web.Application()
    app.router.add_post("/v1/jobs", create)
    async with local_server(app) as port:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "api.cli", "--url", f"http://127.0.0.1:{port}", "submit",
            "https://example.org/post?id=1", "--engine", "espeak", "--voice", "en-gb", "--speed", "1.25",
            cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr
    assert json.loads(stdout)["id"] == "a" * 32
    assert seen == [{"url": "https://example.org/post?id=1", "engine": "espeak", "voice": "en-gb", "speed": 1.25}]


def test_speed_outside_the_job_range_is_a_usage_error(tmp_path: Path) -> None:
    out = readout("http://127.0.0.1:9", "submit", str(write(tmp_path, SHORT)), "--speed", "3")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "0.5-2.0" in out.stderr


async def test_a_download_cut_mid_file_resumes_with_a_range_request(stack: Stack, tmp_path: Path) -> None:
    """A proxy in front of the API drops the first audio response after 40 kB; the CLI asks for the rest."""
    done = readout(stack.url, "convert", str(write(tmp_path, fresh(ESSAY))), "-o", str(tmp_path / "direct.mp3"), "--json")
    job_id = json.loads(done.stdout)["job"]
    ranges: list[str | None] = []

    async def forward(request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "range")}
        async with aiohttp.ClientSession() as session, session.request(
                request.method, stack.url + request.path_qs, headers=headers, data=await request.read()) as upstream:
            is_audio = request.path.endswith("/audio")
            if is_audio:
                ranges.append(request.headers.get("Range"))
            response = web.StreamResponse(status=upstream.status, headers={
                k: v for k, v in upstream.headers.items() if k.lower() in ("content-type", "content-range", "etag")})
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            sent = 0
            async for piece in upstream.content.iter_chunked(8192):
                await response.write(piece)
                sent += len(piece)
                if is_audio and len(ranges) == 1 and sent >= 40_000:
                    assert request.transport is not None
                    request.transport.abort()  # the connection drops mid-file
                    return response
            await response.write_eof()
            return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    async with local_server(app) as port:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "api.cli", "--url", f"http://127.0.0.1:{port}", "download", job_id,
            "-o", str(tmp_path / "resumed.mp3"), "--json", cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        stdout, stderr = await proc.communicate()
    assert proc.returncode == 0 and b"Traceback" not in stderr, stderr
    assert len(ranges) == 2 and ranges[0] is None and ranges[1] is not None
    held = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert held >= 40_000
    assert (tmp_path / "resumed.mp3").read_bytes() == (tmp_path / "direct.mp3").read_bytes()
    assert json.loads(stdout)["bytes"] == (tmp_path / "direct.mp3").stat().st_size
