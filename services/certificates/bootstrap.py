"""The certificate service's ports, built once in the lifespan (cosmicpython's bootstrap).

The renderer, signer and credential keys hold no connection: they are made with the app, so
a bad key file stops the service before it takes anything. The database and object store are
reached in `bootstrap`, inside the lifespan."""

import asyncio
from dataclasses import dataclass

from shared.platform.messaging import retry_transient
from shared.platform.outbox import MongoOutbox
from shared.platform.runtime import Runtime

from . import handlers
from .credentials import CredentialLinks
from .domain import Links
from .issuer_keys import IssuerKeys
from .render_pool import PooledRenderer, WorkerSetup
from .renderer import Renderer, SignedRenderer, TypstRenderer
from .repository import CertificateRepository, MongoCertificates
from .settings import Settings
from .signing import PdfSigner
from .storage import ObjectStore, S3ObjectStore


@dataclass(frozen=True)
class Ports:
    issuing: handlers.Issuing  # what the handlers need: repository, renderer, store, links, keys
    outbox: MongoOutbox

    @property
    def certificates(self) -> CertificateRepository:
        return self.issuing.certificates

    @property
    def store(self) -> ObjectStore:
        return self.issuing.store

    @property
    def links(self) -> Links:
        return self.issuing.links


@dataclass(frozen=True)
class Parts:
    """What the service is made of before it connects to anything."""

    links: Links
    store: S3ObjectStore
    signer: PdfSigner | None
    renderer: Renderer
    credential_keys: IssuerKeys | None


def parts(settings: Settings, metrics) -> Parts:
    links = Links(settings.public_base_url)
    signer = (
        PdfSigner(settings.signing_pkcs12_path, settings.signing_pkcs12_passphrase)
        if settings.signing_pkcs12_path
        else None
    )
    jwks_url = CredentialLinks(links).jwks()
    keys = IssuerKeys(settings.credential_keys_dir, jwks_url) if settings.credential_keys_dir else None
    renderer: Renderer
    if settings.render_workers:  # rendering and signing on the other core (render_pool.py)
        setup = WorkerSetup(
            settings.signing_pkcs12_path, settings.signing_pkcs12_passphrase, keys.pems if keys else (), jwks_url
        )
        renderer = PooledRenderer.shared(setup, settings.render_workers, settings.render_timeout_s)
    else:
        renderer = SignedRenderer(TypstRenderer(), signer) if signer else TypstRenderer()
    return Parts(
        links=links, store=S3ObjectStore(settings, metrics), signer=signer, renderer=renderer, credential_keys=keys
    )


async def bootstrap(rt: Runtime[Ports], settings: Settings, made: Parts) -> Ports:
    repo = MongoCertificates(await rt.connect_database())
    await retry_transient(repo.ensure_indexes, give_up_after=settings.startup_timeout_s)
    await retry_transient(made.store.ensure_bucket, give_up_after=settings.startup_timeout_s)
    if isinstance(pool := made.renderer, PooledRenderer):
        await pool.start()  # every worker starts and loads its keys before the first message
        rt.on_stop(lambda: asyncio.to_thread(pool.release))
    issuing = handlers.Issuing(repo, made.renderer, made.store, made.links, made.credential_keys)
    # The outbox's "published" marks go out in the same bulk writes as the repository's own.
    return Ports(issuing=issuing, outbox=MongoOutbox(repo.collection, rt.publisher, repo.updates))
