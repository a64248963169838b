"""A local web site for the URL-job tests: article pages, redirects, huge and endless bodies.

It runs an aiohttp server in a thread of its own (so sync and async tests, and the stack's
worker processes, can all reach it) and records every request it gets: the SSRF tests
assert that a forbidden address saw none.
"""
from __future__ import annotations

import asyncio
import gzip
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

PAGES = Path(__file__).resolve().parent / "data" / "pages"
# How each page is served: its Content-Type header, exactly (some declare their charset only inside).
CONTENT_TYPES = {
    "lighthouse.html": "text/html",  # UTF-8, said by <meta charset>
    "cafe.html": "text/html",  # windows-1252, said by <meta http-equiv>
    "brauerei.html": "text/html; charset=ISO-8859-1",  # header only; bytes use windows-1252 quotes
    "sakura.html": "text/html",  # Shift_JIS, said by <meta charset>
    "zima.html": "text/html",  # windows-1251, said nowhere: detected
    "empty.html": "text/html; charset=utf-8",  # menus, banner and footer, no article
    "field-notes.txt": "text/plain; charset=utf-8",
    "tide-tables.md": "text/markdown; charset=utf-8",
    "tide-report.pdf": "application/pdf",
}
# page -> (title, author, sentences that must be spoken, boilerplate that must not)
ARTICLES = {
    "lighthouse.html": (
        "The Last Keeper of Skerry Light", "Morag Lindqvist",
        ["For forty years the lamp on Skerry Rock was trimmed by hand.", "A family trade",
         "All six were brought home."],
        ["cookies", "Accept all", "Subscribe", "Obituaries", "Hot singles", "Tidewater Loans", "seadog_44",
         "scandal", "for sale", "Ferry timetable", "All rights reserved", "Privacy policy"],
    ),
    "cafe.html": (
        "Le dernier café de la rue Mouffetard", "Hélène Barbier",
        ["sert encore le café à 1,20 € le petit noir", "lit “Le Monde” de la première", "Une clientèle fidèle"],
        ["cookies", "J’accepte", "Abonnez-vous", "Publicité", "Jean-Marc75", "Mentions légales"],
    ),
    "brauerei.html": (
        "Die Brauerei am Fluss", "Jürgen Weiß",
        ["Seit 1842 braut die Familie Größlinger", "„Wir sind nicht die Größten", "Ein Fass für das Dorffest"],
        ["Cookies", "Akzeptieren", "Startseite", "Jetzt abonnieren", "Prost", "Impressum", "Datenschutz"],
    ),
    "sakura.html": (
        "桜の季節、古い駅で", "山田花子",
        ["山あいの小さな駅に、今年も桜が咲いた。", "地元の人々の思い", "桜は今も、列車を待つ人々を静かに見守っている。"],
        ["クッキー", "ログイン", "旅人A", "Copyright"],
    ),
    "zima.html": (
        "Зима на Байкале", None,
        ["лёд становится настолько прозрачным", "Дорога по льду", "озеро снова становится синим"],
        ["cookie", "Главная", "Контакты", "Иван", "Все права защищены"],
    ),
}
HUGE_BYTES = 30 * 1024 * 1024
_PIECE = b"<p>" + b"All work and no play makes a very long page. " * 20 + b"</p>\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@dataclass
class PageServer:
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (path with query, headers)
    huge_sent: int = 0  # bytes of /huge written before the client stopped reading
    drip_closed: threading.Event = field(default_factory=threading.Event)  # a /drip client went away
    _bomb_body: bytes | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    # --- handlers -------------------------------------------------------------------------
    async def _page(self, request: web.Request, name: str | None = None) -> web.Response:
        name = name or request.match_info["name"]
        if name not in CONTENT_TYPES:
            raise web.HTTPNotFound()
        return web.Response(body=(PAGES / name).read_bytes(), headers={"Content-Type": CONTENT_TYPES[name]})

    async def _redirect(self, request: web.Request) -> web.Response:
        """/redirect/N/NAME: N hops (relative Location headers) before the page NAME."""
        hops, name = int(request.match_info["hops"]), request.match_info["name"]
        target = f"/redirect/{hops - 1}/{name}" if hops > 1 else f"/pages/{name}"
        raise web.HTTPFound(target)

    async def _to(self, request: web.Request) -> web.Response:
        """/to?location=URL: one redirect to anywhere (status from ?status=, default 302)."""
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"Location": request.query["location"]})

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="nope", content_type="text/html")

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        """30 MB of HTML; chunked, or with its Content-Length declared when ?declared=1."""
        response = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
        if request.query.get("declared"):
            response.content_length = HUGE_BYTES
        await response.prepare(request)
        sent = 0
        try:
            while sent < HUGE_BYTES:
                piece = _PIECE[: HUGE_BYTES - sent]
                await response.write(piece)
                sent += len(piece)
                self.huge_sent = sent
        except (ConnectionError, asyncio.CancelledError):
            return response
        await response.write_eof()
        return response

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        """A page that never finishes: one byte of an article every 100 ms, forever."""
        response = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
        await response.prepare(request)
        try:
            await response.write(b"<html><body><article><p>")
            while True:
                await response.write(b"a")
                await asyncio.sleep(0.1)  # the drip's pace, not synchronisation
        except (ConnectionError, asyncio.CancelledError):
            self.drip_closed.set()
            raise

    async def _long(self, request: web.Request) -> web.Response:
        """A real article, only very long: 200 paragraphs, about 60,000 characters."""
        paragraphs = "".join(f"<p>Paragraph {i}: the survey boat went out again at dawn, and the crew measured the depth "
                             f"of the channel at forty points between the harbour wall and the outer buoy.</p>\n"
                             for i in range(200))
        return web.Response(text=f"<html><head><title>The long survey</title></head><body><article><h1>The long survey"
                                 f"</h1>{paragraphs}</article></body></html>", content_type="text/html")

    async def _bomb(self, request: web.Request) -> web.Response:
        """A gzip bomb: 30 MB of HTML squeezed into about 30 KB on the wire."""
        if self._bomb_body is None:
            self._bomb_body = gzip.compress(_PIECE * (HUGE_BYTES // len(_PIECE)), compresslevel=9)
        return web.Response(body=self._bomb_body, headers={"Content-Type": "text/html; charset=utf-8",
                                                           "Content-Encoding": "gzip"})

    async def _hold(self, request: web.Request) -> web.StreamResponse:
        """/hold?KEY: the first request for KEY hangs until its client goes away; later ones get an article."""
        if self.paths().count(request.path_qs) == 1:
            response = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
            await response.prepare(request)
            while True:  # a space now and then notices the client going away
                await response.write(b" ")
                await asyncio.sleep(0.1)  # hanging, not synchronisation
        return await self._page(request, "lighthouse.html")

    async def _image(self, request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def _blank(self, request: web.Request) -> web.Response:
        return web.Response(body=b"", headers={"Content-Type": "text/html; charset=utf-8"})

    @web.middleware
    async def _record(self, request: web.Request, handler):
        self.requests.append((request.path_qs, dict(request.headers)))
        return await handler(request)

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/pages/{name}", self._page)
        app.router.add_get("/redirect/{hops}/{name}", self._redirect)
        app.router.add_get("/to", self._to)
        app.router.add_get("/status/{code}", self._status)
        app.router.add_get("/huge", self._huge)
        app.router.add_get("/drip", self._drip)
        app.router.add_get("/image", self._image)
        app.router.add_get("/bomb", self._bomb)
        app.router.add_get("/hold", self._hold)
        app.router.add_get("/long", self._long)
        app.router.add_get("/blank", self._blank)
        return app

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> PageServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._runner = web.AppRunner(self._app(), handle_signals=False)
                loop.run_until_complete(self._runner.setup())
                site = web.TCPSite(self._runner, self.host, self.port)
                loop.run_until_complete(site.start())
                self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"pages-{self.host}", daemon=True)
        self._thread.start()
        if not ready.wait(30) or errors:
            raise RuntimeError(f"page server on {self.host} did not start: {errors}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
