"""Public HTTP for the Open Badges 3.0 credentials: each revision's VC-JWT (and its decoded JSON),
the issuer's Profile and JWKS, and the signed Bitstring Status Lists. Nothing here needs a login:
a verifier that holds only a credential finds everything it needs by the URLs inside it."""

import asyncio
import base64
import datetime as dt
import json
from collections.abc import Callable

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.responses import JSONResponse

from shared.contract.events import MAX_REVISION
from shared.platform.http import RateLimit

from . import credentials, domain
from .bootstrap import Ports
from .issuer_keys import IssuerKeys
from .storage import is_missing

PUBLIC = {"Access-Control-Allow-Origin": "*"}  # wallets and other agencies' verifiers fetch these from their pages


def credential_router(links: domain.Links, keys: IssuerKeys, rate_limit: str, ports: Callable[[], Ports],
                      known_program: Callable[[str], bool] = lambda program_id: True) -> APIRouter:  # fmt: skip
    router = APIRouter(tags=["credentials"], dependencies=[Depends(RateLimit(rate_limit, "public"))])
    urls = credentials.CredentialLinks(links)

    async def stored_jwt(code: str) -> str:
        cert = await ports().certificates.by_code(code) if domain.is_code(code) else None
        if cert is None or not cert.issued:
            raise HTTPException(404, "unknown certificate")
        if (jwt := await ports().certificates.credential(cert.certificate_id)) is not None:
            return jwt
        try:  # issued before 6bf24ca, when the credential was an object beside the PDF
            return (await ports().store.get(credentials.object_key(cert.object_key))).decode()
        except Exception as e:
            if is_missing(e):  # issued before credentials were
                raise HTTPException(404, "this certificate has no credential") from e
            raise

    @router.get("/credentials/{code}.jwt", summary="The Open Badges 3.0 credential, as a VC-JWT")
    async def credential_jwt(code: str) -> Response:
        jwt = await stored_jwt(code)
        headers = {**PUBLIC, "Cache-Control": "public, max-age=86400, immutable"}
        return Response(jwt, media_type=credentials.MEDIA_TYPE, headers=headers)

    @router.get("/credentials/{code}.json", summary="The credential's content, decoded (verify the .jwt, not this)")
    async def credential_json(code: str) -> Response:
        payload = (await stored_jwt(code)).split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        vc = {k: v for k, v in claims.items() if k not in ("iss", "jti", "nbf", "sub", "exp")}
        return JSONResponse(vc, media_type="application/vc+ld+json", headers=PUBLIC)

    @router.get("/issuer", summary="The issuer's Open Badges Profile")
    async def issuer() -> Response:
        return JSONResponse(credentials.issuer_profile(urls), headers=PUBLIC)

    @router.get("/issuer/jwks.json", summary="The issuer's public keys (all of them, so rotated-out keys still verify)")
    async def jwks() -> Response:
        return JSONResponse(keys.jwks(), media_type="application/jwk-set+json",
                            headers={**PUBLIC, "Cache-Control": "public, max-age=300"})  # fmt: skip

    @router.get("/issuer/keys/{thumbprint}", summary="One public key, as a credential's `kid` names it")
    async def public_key(thumbprint: str) -> Response:
        if (key := keys.public_key(thumbprint)) is None:
            raise HTTPException(404, "unknown key")
        return JSONResponse(key, media_type="application/jwk+json",
                            headers={**PUBLIC, "Cache-Control": "public, max-age=300"})  # fmt: skip

    @router.get(
        "/status/{program_id}/{revision}",
        summary="The signed Bitstring Status List (revocation) of a program's revisions",
    )
    async def status_list(program_id: str, revision: int) -> Response:
        # Only real lists are signed: the issuer's key must not sign text a caller chose.
        if not 1 <= revision <= MAX_REVISION or not known_program(program_id):
            raise HTTPException(404, "no such status list")
        seqs = await ports().certificates.invalidated_seqs(program_id, revision)
        vc = credentials.status_list_credential(
            urls, program_id, revision, [s - 1 for s in seqs], dt.datetime.now(dt.UTC)
        )
        jwt = await asyncio.to_thread(keys.sign, credentials.jwt_claims(vc))
        # Short-lived caching: a revocation shows within a minute; the list itself is small (gzip).
        return Response(
            jwt, media_type=credentials.MEDIA_TYPE, headers={**PUBLIC, "Cache-Control": "public, max-age=60"}
        )

    return router
