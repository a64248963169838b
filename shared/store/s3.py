"""Storage in an S3-compatible bucket (`s3://bucket/prefix`) through aiobotocore.

Credentials and region come the standard AWS way (environment, profile, instance role);
`READOUT_S3_ENDPOINT_URL` points at another S3 (SeaweedFS, MinIO), else AWS. The bucket is
created on first use when it does not exist. S3 records no reads, so `touch` is a no-op and
chunk retention on S3 is the bucket's lifecycle rule (see the README).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import ClientError

from shared.store.storage import NotFound, ObjectInfo, Storage, check_key

_PART_BYTES = 16 * 1024 * 1024  # multipart upload above this
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


class S3Storage(Storage):
    def __init__(self, bucket: str, prefix: str, *, endpoint_url: str | None, region: str,
                 credentials: tuple[str, str] | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.region = region
        self.credentials = credentials  # (access key, secret); None = botocore's default chain
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._opening = asyncio.Lock()

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def client(self) -> Any:
        if self._client is None:
            async with self._opening:
                if self._client is None:
                    client = await self._stack.enter_async_context(get_session().create_client(
                        "s3", endpoint_url=self.endpoint_url, region_name=self.region,
                        **({"aws_access_key_id": self.credentials[0], "aws_secret_access_key": self.credentials[1]}
                           if self.credentials else {}),
                        config=Config(s3={"addressing_style": "path"} if self.endpoint_url else {},
                                      retries={"max_attempts": 4, "mode": "standard"}),
                    ))
                    await self._ensure_bucket(client)
                    self._client = client
        return self._client

    async def _ensure_bucket(self, client: Any) -> None:
        try:
            await client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if not _missing(exc):
                return  # e.g. 403 without s3:ListBucket: the bucket exists, use it
            extra = {} if self.region == "us-east-1" else {
                "CreateBucketConfiguration": {"LocationConstraint": self.region}}
            with contextlib.suppress(ClientError):  # created meanwhile by another process
                await client.create_bucket(Bucket=self.bucket, **extra)

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        c = await self.client()
        await c.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)

    async def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        size = path.stat().st_size
        if size <= _PART_BYTES:
            await self.put(key, await asyncio.to_thread(path.read_bytes), content_type)
            return
        c = await self.client()
        name = self._key(key)
        upload = await c.create_multipart_upload(Bucket=self.bucket, Key=name, ContentType=content_type)
        upload_id = upload["UploadId"]
        try:
            parts = []
            with open(path, "rb") as src:
                number = 1
                while block := await asyncio.to_thread(src.read, _PART_BYTES):
                    part = await c.upload_part(Bucket=self.bucket, Key=name, UploadId=upload_id,
                                               PartNumber=number, Body=block)
                    parts.append({"PartNumber": number, "ETag": part["ETag"]})
                    number += 1
            await c.complete_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id,
                                              MultipartUpload={"Parts": parts})
        except BaseException:
            with contextlib.suppress(ClientError):
                await c.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            raise

    async def get(self, key: str, *, touch: bool = False) -> bytes | None:
        c = await self.client()
        try:
            response = await c.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        async with response["Body"] as body:
            return await body.read()

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        c = await self.client()
        try:
            response = await c.get_object(Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end}")
        except ClientError as exc:
            if _missing(exc):
                raise NotFound(key) from exc
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""
            raise
        async with response["Body"] as body:
            return await body.read()

    async def open_range(self, key: str, start: int | None = None, end: int | None = None) -> tuple[Any, dict]:
        """The streaming body of (part of) an object and its response, for proxying without buffering."""
        c = await self.client()
        extra = {"Range": f"bytes={start}-{'' if end is None else end}"} if start is not None else {}
        try:
            response = await c.get_object(Bucket=self.bucket, Key=self._key(key), **extra)
        except ClientError as exc:
            if _missing(exc):
                raise NotFound(key) from exc
            raise
        return response["Body"], response

    async def stat(self, key: str) -> ObjectInfo | None:
        c = await self.client()
        try:
            head = await c.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return ObjectInfo(key, int(head["ContentLength"]), head["LastModified"].timestamp())

    async def copy(self, src: str, dst: str) -> bool:
        c = await self.client()
        try:
            await c.copy_object(Bucket=self.bucket, Key=self._key(dst),
                                CopySource={"Bucket": self.bucket, "Key": self._key(src)})
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True

    async def delete(self, key: str) -> None:
        c = await self.client()
        await c.delete_object(Bucket=self.bucket, Key=self._key(key))

    async def iter(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        c = await self.client()
        paginator = c.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix):]
                yield ObjectInfo(key, int(item["Size"]), item["LastModified"].timestamp())

    async def presign(self, key: str, expires_s: int) -> str | None:
        c = await self.client()
        return await c.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires_s)

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None
