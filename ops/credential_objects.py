"""Before rolling the certificate service back to a version older than 6bf24ca: write each
certificate's credential (kept in its record since then) to the object beside its PDF, where
older versions read it (decision 11). Safe to run again: each object is written whole, with the
same content. Reads the certificate service's own settings (MONGODB_URL, MONGODB_DATABASE, S3_*).

    python -m ops.credential_objects
"""

import argparse
import asyncio

from pymongo import AsyncMongoClient

from services.certificates import credentials
from services.certificates.repository import MongoCertificates
from services.certificates.settings import Settings
from services.certificates.storage import S3ObjectStore


async def write_back(settings: Settings) -> int:
    """The number of credentials written to objects."""
    client = AsyncMongoClient(settings.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000)
    store, written = S3ObjectStore(settings), 0
    try:
        certificates = MongoCertificates(client[settings.mongodb_database]).collection
        query = {"credential_jwt": {"$exists": True}, "object_key": {"$exists": True}}
        async for doc in certificates.find(query, {"object_key": 1, "credential_jwt": 1}):
            key = credentials.object_key(doc["object_key"])
            await store.put(key, doc["credential_jwt"].encode(), credentials.MEDIA_TYPE)
            written += 1
    finally:
        await client.close()
    return written


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    print(f"credentials written to objects: {asyncio.run(write_back(Settings()))}")


if __name__ == "__main__":
    main()
