"""Signed links: URLs that work without an Authorization header, for a while, for one path.

    sig = HMAC-SHA256(secret, "<job id>\\n<path>\\n<expires>")      ?expires=<unix>&sig=<hex>

The secret is `READOUT_URL_SECRET`, else 32 random bytes generated once into
`READOUT_DATA_DIR/url-secret` (mode 0600; every process on the machine reads the same
file; replicas on several machines need the variable). Expiry is rounded up to a step
(an hour for the default 24 h), so a job's links stay the same between status polls.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

from api.errors import ApiError
from shared.config import Settings

SECRET_FILE = "url-secret"


def load_secret(settings: Settings) -> bytes:
    if settings.url_secret:
        return settings.url_secret.encode()
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    for _ in range(50):  # another process may be between its create and its write
        value = path.read_text().strip()
        if value:
            return value.encode()
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty")


class LinkSigner:
    def __init__(self, secret: bytes, ttl_s: int) -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self._step = max(1, min(3600, ttl_s // 24))

    def _sig(self, job_id: str, path: str, expires: int) -> str:
        return hmac.new(self._secret, f"{job_id}\n{path}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def expiry(self, ttl_s: int | None = None, now: float | None = None) -> int:
        ttl = self.ttl_s if ttl_s is None else ttl_s
        step = self._step if ttl_s is None else max(1, min(86400, ttl_s // 24))
        at = (time.time() if now is None else now) + ttl
        return math.ceil(at / step) * step

    def sign(self, job_id: str, path: str, *, ttl_s: int | None = None) -> str:
        """`path` with `?expires=&sig=` appended."""
        expires = self.expiry(ttl_s)
        return f"{path}?{urlencode({'expires': expires, 'sig': self._sig(job_id, path, expires)})}"

    def check(self, job_id: str, path: str, expires: str, sig: str) -> None:
        """Raise 403 `invalid_signature` (wrong, tampered) or `link_expired` (right but late)."""
        if not expires.isdigit() or not hmac.compare_digest(self._sig(job_id, path, int(expires)), sig):
            raise ApiError(403, "invalid_signature", "this link's signature does not match; ask the API for a new one")
        if int(expires) < time.time():
            raise ApiError(403, "link_expired", "this link has expired; ask the API for a new one")
