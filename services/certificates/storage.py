"""PDFs in S3-compatible object storage (MinIO in production, SeaweedFS locally)."""

import asyncio
import io
from typing import Protocol

from minio import Minio
from minio.error import S3Error

from shared.settings import S3Settings


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def ping(self) -> bool: ...


class S3ObjectStore:
    """The minio SDK is synchronous: calls run in worker threads, never on the event loop."""

    def __init__(self, settings: S3Settings):
        self._bucket = settings.s3_bucket
        self._client = Minio(
            settings.s3_host,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )

    async def ensure_bucket(self) -> None:
        def ensure() -> None:
            if not self._client.bucket_exists(self._bucket):
                self._client.make_bucket(self._bucket)

        await asyncio.to_thread(ensure)

    async def put(self, key: str, data: bytes, content_type: str = "application/pdf") -> None:
        await asyncio.to_thread(
            self._client.put_object, self._bucket, key, io.BytesIO(data), len(data), content_type=content_type
        )

    async def get(self, key: str) -> bytes:
        def read() -> bytes:
            response = self._client.get_object(self._bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(read)

    async def ping(self) -> bool:
        return await asyncio.to_thread(self._client.bucket_exists, self._bucket)


def is_missing(exc: Exception) -> bool:
    return isinstance(exc, S3Error) and exc.code in ("NoSuchKey", "NoSuchBucket")
