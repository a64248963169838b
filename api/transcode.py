"""Audio in another format than the stored MP3: `GET /v1/jobs/{id}/audio?format=...` and the OpenAI endpoint.

A `TranscodingResponse` is handed to `api.audio.stream_audio`, which writes each landed
chunk's MP3 to it in order, as for a plain MP3 stream; the response decodes each chunk to
PCM (`chunk_pcm`), feeds it to a streaming encoder and sends what comes out, so the client
hears the start while later chunks are still being made. Transcoded audio has no
Content-Length and no ranges (its length is known only at the end); a job that fails
mid-way has its connection cut exactly like the MP3 stream.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from api.errors import ApiError
from shared.audio.formats import FORMATS, StreamEncoder, decode_mp3


def chunk_pcm(audio: bytes) -> tuple[bytes, int]:
    """(16-bit mono PCM, sample rate) of one landed chunk's stored audio.

    Today the store holds bare MP3 frames, decoded here. Once chunks are stored as
    `shared.audio.rendered.RenderedChunk` blobs, this is the one place to switch: take the
    chunk's own `pcm` and `sample_rate` (exact, no decode) from the blob stream_audio hands over.
    """
    return decode_mp3(audio)


class TranscodingResponse(web.StreamResponse):
    """A chunked response whose `write` takes a chunk's stored audio and sends it re-encoded."""

    def __init__(self, fmt: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(headers={"Content-Type": FORMATS[fmt].content_type, "Cache-Control": "no-store",
                                  **(headers or {})})
        self.enable_chunked_encoding()
        self._fmt = fmt
        self._encoder: StreamEncoder | None = None

    def _transcode(self, audio: bytes) -> bytes:
        pcm, rate = chunk_pcm(audio)
        if self._encoder is None:
            self._encoder = StreamEncoder(self._fmt, rate)
        return self._encoder.feed(pcm)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        out = await asyncio.to_thread(self._transcode, bytes(data))
        if out:
            await super().write(out)

    async def write_eof(self, data: bytes = b"") -> None:
        """The encoder's tail, then the end of the body (aiohttp calls this again after the handler: a no-op)."""
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            await super().write(await asyncio.to_thread(encoder.finish))
        await super().write_eof(data)


def audio_response(fmt: str, headers: dict[str, str] | None = None) -> web.StreamResponse:
    """The streamed response for `fmt`: plain MP3 pieces, or transcoded; 400 for an unknown format."""
    if fmt not in FORMATS:
        raise ApiError(400, "unsupported_format", f"format {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
    if fmt == "mp3":
        response = web.StreamResponse(headers={"Content-Type": "audio/mpeg", "Cache-Control": "no-store",
                                               **(headers or {})})
        response.enable_chunked_encoding()
        return response
    return TranscodingResponse(fmt, headers)
