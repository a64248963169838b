"""A local stand-in for ElevenLabs' `POST /v1/text-to-speech/{voice_id}` endpoint."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.engines.fake import fake_mp3

API_KEY = "xi-test-key"


@dataclass
class ElevenLabsStub:
    fail_next: deque[int] = field(default_factory=deque)  # HTTP statuses for the next calls
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/v1/text-to-speech/{voice_id}", self._tts)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        await self._server.close()

    @staticmethod
    def _error(status: int, kind: str, message: str) -> web.Response:
        return web.json_response({"detail": {"status": kind, "message": message}}, status=status)

    async def _tts(self, request: web.Request) -> web.Response:
        body = await request.json()
        voice = request.match_info["voice_id"]
        self.requests.append({"voice": voice, "query": dict(request.query), **body})
        if request.headers.get("xi-api-key") != API_KEY:
            return self._error(401, "invalid_api_key", "Invalid API key")
        if self.fail_next:
            status = self.fail_next.popleft()
            kind = "too_many_concurrent_requests" if status == 429 else "internal_error"
            return self._error(status, kind, f"injected {status}")
        text = body["text"]
        return web.Response(
            body=fake_mp3(text, voice),
            headers={"Content-Type": "audio/mpeg", "character-cost": str(len(text))},
        )
