"""`python -m api`: serve the API on READOUT_HOST:READOUT_PORT."""
from __future__ import annotations

import ipaddress
import sys

from api.app import create_app
from api.server import serve
from shared.config import Settings, load_settings
from shared.logs import setup_logging
from shared.redis_conn import resolve_redis_url


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> str | None:
    """Secure by default: no keys means loopback only, unless explicitly allowed."""
    if settings.api_keys or settings.allow_anonymous or is_loopback(settings.host):
        return None
    return (
        f"refusing to serve anonymous requests on {settings.host}: set READOUT_API_KEYS (name:key,...) "
        "or READOUT_ALLOW_ANONYMOUS=1 to run without keys on a non-loopback address"
    )


def main() -> None:
    settings = load_settings()
    setup_logging(settings.log_level)
    problem = check_exposure(settings)
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(2)
    app = create_app(settings, resolve_redis_url(settings))
    serve(app, settings.host, settings.port)


if __name__ == "__main__":
    main()
