"""Wires the certificate service: settings → runtime → subscriber → HTTP app."""

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from faststream import AckPolicy

from shared import contract
from shared.contract import CERTIFICATE_ISSUED
from shared.events import CompletedData
from shared.messaging import EVENTS, consumer_queue, consumes, raw_body, retry_transient
from shared.outbox import MongoOutbox
from shared.programs import Programs
from shared.runtime import Runtime, serve
from shared.settings import S3Settings, ServiceSettings, names

from . import handlers
from .credential_web import credential_router
from .credentials import CredentialLinks
from .domain import Links, completion_problem
from .issuer_keys import IssuerKeys
from .operator_api import operator_router
from .renderer import SignedRenderer, TypstRenderer
from .repository import MongoCertificates
from .signing import PdfSigner
from .storage import S3ObjectStore
from .web import public_router

SERVICE = "certificates"


class Settings(ServiceSettings, S3Settings):
    mongodb_database: str = "certificates"
    http_port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    # Per client address and replica, on the public PDF and verification routes.
    public_rate_limit: str = "120/minute"
    # PAdES signing key (PKCS#12); unset: certificates are not signed.
    signing_pkcs12_path: Path | None = None
    signing_pkcs12_passphrase: str = ""
    # Open Badges 3.0 credential keys: a directory of RSA keys in PEM (the last by name signs, all
    # are published). Unset: no credentials are issued.
    credential_keys_dir: Path | None = None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    rt = Runtime(SERVICE, settings)
    rt.publisher.declare(contract.CERTIFICATE_ISSUED, "A certificate was issued: where to fetch and verify it.")
    rt.publisher.declare(contract.CERTIFICATE_REVOKED, "An operator revoked a certificate (with the reason).")
    programs = Programs.load(settings.programs_dir)
    links = Links(settings.public_base_url)
    store = S3ObjectStore(settings, rt.metrics)
    accepted = {contract.TYPE_BY_ROUTING_KEY[contract.COMPLETED]: CompletedData}
    signer = PdfSigner(settings.signing_pkcs12_path, settings.signing_pkcs12_passphrase) if settings.signing_pkcs12_path else None
    renderer = SignedRenderer(TypstRenderer(), signer) if signer else TypstRenderer()
    credential_keys = None
    if settings.credential_keys_dir:
        credential_keys = IssuerKeys(settings.credential_keys_dir, CredentialLinks(links).jwks())
    state: dict = {}
    queue = consumer_queue(rt.queue_name(contract.COMPLETED), contract.COMPLETED, settings.delivery_limit)
    completed_publishers = names(settings.completed_publishers)
    rt.checks["object_store"] = store.ping

    async def publish(cert, routing_key: str, event) -> None:
        """Right after the write that stored it: publish its outbox entry (the relay covers a crash)."""
        await retry_transient(lambda: state["outbox"].publish_stored(cert.certificate_id, routing_key, event))

    @rt.broker.subscriber(queue, EVENTS, ack_policy=AckPolicy.MANUAL, decoder=raw_body, description=consumes(contract.COMPLETED))
    async def on_completed(body: bytes) -> None:
        async with rt.settling(queue.name) as message:
            if not (decoded := await rt.accept(body, message, queue.name, accepted, programs, completed_publishers)):
                return
            _, data = decoded
            program = programs.get(data.program_id)
            if problem := completion_problem(data, program):
                await rt.dead_letters.reject(message, queue.name, problem)
                return
            cert, issued = await retry_transient(lambda: handlers.issue_certificate(data, program, state["issuing"]))
            if issued:
                rt.metrics.certificates.labels(SERVICE).inc()
                await publish(cert, CERTIFICATE_ISSUED, issued)
            else:  # a redelivery: publish whatever an earlier attempt left pending
                await retry_transient(lambda: state["outbox"].flush(cert.certificate_id))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        repo = MongoCertificates(await rt.connect_database())
        app.state.certificates = repo
        state["repo"] = repo
        state["issuing"] = handlers.Issuing(repo, renderer, store, links, credential_keys)
        state["outbox"] = outbox = MongoOutbox(repo.collection, rt.publisher)
        await retry_transient(repo.ensure_indexes, give_up_after=settings.startup_timeout_s)
        await retry_transient(store.ensure_bucket, give_up_after=settings.startup_timeout_s)
        await rt.start_consuming()
        rt.spawn(outbox.relay(settings.outbox_interval_s))
        yield
        await rt.stop()

    app = rt.http_app("Humas certificate service", lifespan)
    app.state.store = store
    app.include_router(public_router(programs, links, settings.public_rate_limit, signature_checker(signer),
                                     with_credentials=credential_keys is not None))
    if credential_keys is not None:
        app.include_router(credential_router(links, credential_keys, settings.public_rate_limit,
                                             known_program=programs.__contains__))  # fmt: skip
    app.include_router(operator_router(programs, rt.operator, state, publish))
    return app


def signature_checker(signer: PdfSigner | None):
    """For the verification page: is the stored document's signature intact? Checked on the
    bytes in the object store (so tampering there shows), remembered per document hash."""
    if signer is None:
        return None
    known: dict[str, dict | None] = {}  # insertion-ordered: the oldest answer goes first when full

    async def check(cert, store) -> dict | None:
        if cert.sha256 not in known:
            pdf = await store.get(cert.object_key)
            if len(known) >= 10_000:
                del known[next(iter(known))]
            known[cert.sha256] = await asyncio.to_thread(signer.check, pdf)
        return known[cert.sha256]

    return check


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)
