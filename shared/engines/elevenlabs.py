"""ElevenLabs over its HTTP API (`POST /v1/text-to-speech/{voice_id}`) with aiohttp.

One request per unit (a sentence of ours), with no request stitching (no previous/next
text), so a unit's audio depends only on its own text, the voice and the model id, which all
go into the cache key. The MP3 is decoded to PCM for the renderer, which also time-stretches
it to the job's speed (ElevenLabs' own speed control covers only 0.7-1.2). 429 and 5xx are
retried with full jitter (bounded tries); other errors fail at once.
"""
from __future__ import annotations

import asyncio
import json
import re

import aiohttp

from shared.audio.decode import decode_to_pcm
from shared.config import Settings
from shared.engines.base import AudioParams, Engine, EngineError, Speech, UnknownVoice, VoiceInfo
from shared.engines.retry import with_retries

SAMPLE_RATE = 44_100
BITRATE_KBPS = 64
OUTPUT_FORMAT = f"mp3_{SAMPLE_RATE}_{BITRATE_KBPS}"
# ElevenLabs' premade voices by name; any other voice id (cloned, library) is accepted as is.
_PREMADE = {
    "Rachel": "21m00Tcm4TlvDq8ikWAM", "Sarah": "EXAVITQu4vr4xnSDxMaL", "Adam": "pNInz6obpgDQGcFmaJgB",
    "Antoni": "ErXwobaYiN019PkySvjV", "Josh": "TxGEqnHWrfWFTfGW9XjX", "Arnold": "VR6AewLTigWG4xSOukaG",
    "Domi": "AZnzlk1XvdvUeBnXmlld", "Elli": "MF3mGyEYCl7XYWbV9V6O",
}
_VOICE_ID = re.compile(r"^[A-Za-z0-9]{20}$")


def _detail(body: str) -> str:
    """The human part of an ElevenLabs error body ({"detail": {"message": ...}} or plain)."""
    try:
        detail = json.loads(body).get("detail", body)
    except (ValueError, AttributeError):
        return body[:300]
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("status") or detail)
    return str(detail)[:300]


async def _speech(audio: bytes, sample_rate: int, billed_chars: int) -> Speech:
    try:
        pcm = await asyncio.to_thread(decode_to_pcm, audio, sample_rate)
    except ValueError as exc:
        raise EngineError("elevenlabs", f"unreadable audio: {exc}", retryable=True,
                          code="provider_unavailable") from exc
    return Speech(pcm=pcm, sample_rate=sample_rate, billed_chars=billed_chars)


class ElevenLabsEngine(Engine):
    name = "elevenlabs"
    max_chars = 3000

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(id=vid, name=name) for name, vid in _PREMADE.items()]

    def default_voice(self) -> str:
        return _PREMADE["Rachel"]

    def params(self, voice: str | None = None, variant: str | None = None) -> AudioParams:
        voice = _PREMADE.get(voice or "", voice or self.default_voice())
        if not _VOICE_ID.match(voice):
            raise UnknownVoice(f"elevenlabs has no voice {voice!r} (use a premade name or a voice id)")
        return AudioParams(
            engine=self.name,
            engine_version="v1",
            voice=voice,
            sample_rate=SAMPLE_RATE,
            bitrate_kbps=BITRATE_KBPS,
            extra=(("model_id", self._settings.elevenlabs_model),),
        )

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self._settings.chunk_timeout_s, connect=10)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def speak(self, text: str, params: AudioParams) -> Speech:
        return await with_retries(lambda: self._call(text, params), self._settings)

    async def _call(self, text: str, params: AudioParams) -> Speech:
        url = f"{self._settings.elevenlabs_url.rstrip('/')}/v1/text-to-speech/{params.voice}"
        body = {"text": text, "model_id": dict(params.extra)["model_id"]}
        headers = {"xi-api-key": self._settings.elevenlabs_api_key, "Accept": "audio/mpeg"}
        try:
            async with self._get_session().post(
                url, json=body, headers=headers, params={"output_format": OUTPUT_FORMAT}
            ) as response:
                if response.status == 200:
                    audio = await response.read()
                    billed = response.headers.get("character-cost", "")
                    chars = int(billed) if billed.isdigit() else len(text)
                    return await _speech(audio, params.sample_rate, chars)
                error = f"HTTP {response.status}: {_detail(await response.text())}"
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise EngineError(self.name, f"connection failed: {exc!r}", retryable=True,
                              code="provider_unavailable") from exc
        if status == 429:
            raise EngineError(self.name, f"throttled: {error}", retryable=True, code="throttled")
        if status >= 500:
            raise EngineError(self.name, f"service error {error}", retryable=True, code="provider_unavailable")
        if status in (401, 403):
            raise EngineError(self.name, f"API key rejected: {error}", code="auth_failed")
        if status == 404:
            raise EngineError(self.name, f"unknown voice {params.voice!r}: {error}", code="invalid_request")
        raise EngineError(self.name, f"request rejected: {error}", code="invalid_request")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
