"""A local HTTP server speaking Amazon Polly's `POST /v1/speech` (REST-JSON) protocol.

Enough of the real service for aiobotocore to parse successes and errors: audio/mpeg bodies
with `x-amzn-RequestCharacters`, errors as JSON with `x-amzn-ErrorType` and `__type`.
Faults are injected by queueing error responses (`fail_next`) or a throttling fraction.

SSML is spoken the way Polly would: the document must be well-formed XML (else
`InvalidSsmlException`), text is a tone of 10 ms a character (divided by an enclosing
`<prosody rate="N%">`), `<break time="..."/>` is that much silence, and only text is billed.
"""
from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.audio.encode import pcm_to_mp3
from shared.engines.fake import fake_mp3, fake_pcm

ACCESS_KEY = "AKIDREADOUTTEST"
MAX_TEXT = 3000
VOICES = {"Joanna", "Matthew", "Amy", "Brian", "Lea"}
ENGINES = {"standard", "neural", "long-form", "generative"}
_BREAK_TIME = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")


def speak_ssml(ssml: str, voice: str, sample_rate: int) -> tuple[bytes, int]:
    """(MP3, billed characters) for an SSML document; ValueError if it is not valid SSML."""
    try:
        root = ET.fromstring(ssml)
    except ET.ParseError as exc:
        raise ValueError(str(exc)) from exc
    if root.tag != "speak":
        raise ValueError("the root element must be <speak>")
    pcm = bytearray()
    billed = 0

    def walk(node: ET.Element, rate: float) -> None:
        nonlocal billed
        if node.tag == "prosody" and node.get("rate", "").endswith("%"):
            rate = float(node.get("rate", "100%")[:-1]) / 100
        if node.tag == "break":
            match = _BREAK_TIME.match(node.get("time", ""))
            if match is None:
                raise ValueError(f"bad break time {node.get('time')!r}")
            seconds = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)
            pcm.extend(bytes(2 * int(seconds * sample_rate)))
        for text, child in [(node.text, None), *((c.tail, c) for c in node)]:
            if child is not None:
                walk(child, rate)
            if text and text.strip():
                billed += len(text)
                pcm.extend(fake_pcm(text, voice, rate))

    walk(root, 1.0)
    return pcm_to_mp3(bytes(pcm), sample_rate), billed


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
        audio = None
        if body.get("TextType") == "ssml":
            try:
                audio, billed = speak_ssml(text, voice, int(body.get("SampleRate", "24000")))
            except ValueError as exc:
                return self._error(400, "InvalidSsmlException", f"Invalid SSML request: {exc}")
        else:
            billed = len(text)
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
            body=audio if audio is not None else fake_mp3(text, voice),
            headers={"Content-Type": "audio/mpeg", "x-amzn-RequestCharacters": str(billed)},
        )

