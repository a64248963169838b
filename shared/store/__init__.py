"""Where bytes last: the storage backends, the chunk cache on top of them, finished articles."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from shared.config import Settings
from shared.store.storage import NotFound, ObjectInfo, Storage

__all__ = ["NotFound", "ObjectInfo", "Storage", "open_storage"]


def open_storage(settings: Settings) -> Storage:
    """The backend `READOUT_STORAGE` names: `file:///abs/path`, `s3://bucket/prefix`, or data_dir/store."""
    url = settings.storage_url
    if not url:
        from shared.store.files import DirectoryStorage

        return DirectoryStorage(Path(settings.data_dir) / "store")
    parsed = urlparse(url)
    if parsed.scheme == "file":
        from shared.store.files import DirectoryStorage

        if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
            raise ValueError(f"READOUT_STORAGE must be file:///absolute/path, got {url!r}")
        return DirectoryStorage(Path(parsed.path))
    if parsed.scheme == "s3":
        from shared.store.s3 import S3Storage

        if not parsed.netloc:
            raise ValueError(f"READOUT_STORAGE must be s3://bucket/prefix, got {url!r}")
        return S3Storage(parsed.netloc, parsed.path, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
                         credentials=(settings.s3_access_key, settings.s3_secret_key) if settings.s3_access_key else None)
    raise ValueError(f"READOUT_STORAGE must start with file:// or s3://, got {url!r}")
