"""PDFs in S3-compatible object storage (MinIO in production, SeaweedFS locally)."""

import asyncio
import io
from typing import Protocol

from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from shared.platform.messaging import classify_failures, dependency_error

from .settings import S3Settings

# The object store refuses our key (rotated, mistyped): no message is at fault, so the work waits,
# but nobody but an operator can fix it, so it is alerted on (error log, metric, /readyz).
S3_CREDENTIAL_ERRORS = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})
_S3_BUSY = frozenset({"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"})


@classify_failures
def s3_failure(exc: BaseException) -> str | None:
    """The object store's failures as `shared.platform.messaging.dependency_error` kinds (None: not one)."""
    if isinstance(exc, ServerError):  # an HTTP error status without an S3 error code (5xx, 429)
        return "server"
    if isinstance(exc, S3Error):
        if exc.code in S3_CREDENTIAL_ERRORS:
            return "credentials"
        status = getattr(exc.response, "status", None) or 0
        return "server" if status >= 500 or status == 429 or exc.code in _S3_BUSY else None
    if isinstance(exc, InvalidResponseError):  # a non-XML answer, e.g. a proxy's 502 page
        status = int(getattr(exc, "_code", 0) or 0)
        return "server" if status >= 500 or status == 429 else None
    return None


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def ping(self) -> bool: ...


class CredentialsRejected(Exception):
    """The object store refuses our access key or signature: a configuration fault (a rotated or
    wrong key), not an outage. /readyz names it; the work waits until the key is fixed."""


class S3ObjectStore:
    """The minio SDK is synchronous: calls run in worker threads, never on the event loop.
    Failed calls are counted by kind (`humas_dependency_errors{dependency="object_store"}`)."""

    def __init__(self, settings: S3Settings, metrics=None):
        self._bucket = settings.s3_bucket
        self._metrics = metrics
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

        await self._call(ensure)

    async def put(self, key: str, data: bytes, content_type: str = "application/pdf") -> None:
        await self._call(
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

        return await self._call(read)

    async def ping(self) -> bool:
        try:
            return await self._call(self._client.bucket_exists, self._bucket)
        except S3Error as e:
            if dependency_error(e) == "credentials":
                raise CredentialsRejected(e.code) from e
            raise

    async def _call(self, work, *args, **kwargs):
        try:
            return await asyncio.to_thread(work, *args, **kwargs)
        except Exception as e:
            # Logged by whoever decides what to do about it (retry_transient: an error line for a rejected key).
            if (kind := dependency_error(e)) and self._metrics is not None:
                self._metrics.dependency_error("object_store", kind)
            raise


def is_missing(exc: Exception) -> bool:
    return isinstance(exc, S3Error) and exc.code in ("NoSuchKey", "NoSuchBucket")
