"""A local HTTP server speaking Amazon Polly's `POST /v1/speech` (REST-JSON) protocol.

Enough of the real service for aiobotocore to parse successes and errors: audio/mpeg bodies
with `x-amzn-RequestCharacters`, errors as JSON with `x-amzn-ErrorType` and `__type`.
Faults are injected by queueing error responses (`fail_next`) or a throttling fraction.
"""
from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.engines.fake import fake_mp3

ACCESS_KEY = "AKIDREADOUTTEST"
MAX_TEXT = 3000
VOICES = {"Joanna", "Matthew", "Amy", "Brian", "Lea"}
ENGINES = {"standard", "neural", "long-form", "generative"}
_TAG = re.compile(r"<[^>]*>")


@dataclass
class PollyStub:
    throttle_rate: float = 0.0
    seed: int = 1
    fail_next: deque[tuple[int, str, str]] = field(default_factory=deque)  # (status, type, message)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    def throttle_first(self, n: int) -> None:
        for _ in range(n):
            self.fail_next.append((400, "ThrottlingException", "Rate exceeded"))

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/v1/speech", self._speech)
        self._rng = random.Random(self.seed)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        await self._server.close()

    @staticmethod
    def _error(status: int, kind: str, message: str) -> web.Response:
        return web.json_response(
            {"__type": kind, "message": message}, status=status, headers={"x-amzn-ErrorType": f"{kind}:"}
        )

    async def _speech(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if f"Credential={ACCESS_KEY}/" not in request.headers.get("Authorization", ""):
            return self._error(403, "UnrecognizedClientException",
                               "The security token included in the request is invalid.")
        if self.fail_next:
            return self._error(*self.fail_next.popleft())
        if self._rng.random() < self.throttle_rate:
            return self._error(400, "ThrottlingException", "Rate exceeded")
        text, voice = body.get("Text", ""), body.get("VoiceId", "")
        billed = len(_TAG.sub("", text)) if body.get("TextType") == "ssml" else len(text)
        if billed > MAX_TEXT:
            return self._error(400, "TextLengthExceededException",
                               f"Maximum text length has been exceeded ({MAX_TEXT})")
        if voice not in VOICES:
            return self._error(400, "ValidationException", f"1 validation error detected: Value "
                               f"'{voice}' at 'voiceId' failed to satisfy constraint: Member must "
                               "satisfy enum value set")
        if body.get("Engine") not in ENGINES or body.get("OutputFormat") != "mp3":
            return self._error(400, "InvalidParameterValueException", "unsupported engine or format")
        return web.Response(
            body=fake_mp3(text, voice),
            headers={"Content-Type": "audio/mpeg", "x-amzn-RequestCharacters": str(billed)},
        )

