"""Open Badges 3.0 credentials on the real servers, checked as an outside verifier would: with a
different JOSE library (jwcrypto; the service signs with joserfc), knowing only the credential and
what its URLs return over HTTP."""

import asyncio
import base64
import gzip
import hashlib
import io
import json

import pytest
from jwcrypto import jwk, jwt
from pypdf import PdfReader

from ops.credential_objects import write_back
from services.certificates import credentials
from services.certificates.app import create_app
from services.certificates.signing import check_signature
from shared.contract.programs import Programs
from shared.platform.auth import hash_key, new_key
from shared.platform.settings import REPO_ROOT
from tests.integration.test_certificates_service import PROGRAM, completed, settings_for
from tests.support import Bus, running, unique

pytestmark = pytest.mark.integration
KEY = new_key()
AUTH = {"X-API-Key": KEY}


@pytest.fixture
async def service(amqp_url, mongodb_url, s3, signing_key, credential_keys):
    settings = settings_for(amqp_url, mongodb_url, s3, unique("certificates")).model_copy(update={
        "operator_api_keys": f"rina:{hash_key(KEY)}", "signing_pkcs12_path": signing_key.path,
        "signing_pkcs12_passphrase": signing_key.passphrase, "public_rate_limit": "1000/minute",
        "credential_keys_dir": credential_keys})  # fmt: skip
    async with running(create_app(settings)) as http, Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        for i in range(3):
            await bus.publish("completed", completed(i))
        await issued.until(lambda evts: len({e["id"] for e in evts}) == 3, what="three certificates")
        yield http, issued


def by_revision(issued, i: int, revision: int = 1) -> dict:
    nip = completed(i)["data"]["nip"]
    return next(e["data"] for e in issued.events if e["data"]["nip"] == nip and e["data"]["revision"] == revision)


async def verified(http, token: str) -> dict:
    """Verify a VC-JWT as a stranger: the key comes from the URL in its `kid`, fetched over HTTP."""
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS256" and set(header) <= {"alg", "kid", "typ"}, header
    public = (await http.get(header["kid"])).json()  # OB 3.0 §8.2.1: the kid dereferences to one JWK
    assert public["kty"] == "RSA" and public["n"] and public["e"] and "d" not in public, "a bare public key"
    return json.loads(jwt.JWT(jwt=token, key=jwk.JWK(**public), algs=["RS256"]).claims)


async def status_bit(http, entry: dict) -> bool:
    """The credential's bit in its Bitstring Status List, read as a verifier does."""
    assert entry["type"] == "BitstringStatusListEntry" and entry["statusPurpose"] == "revocation"
    response = await http.get(entry["statusListCredential"])
    assert response.status_code == 200
    listing = await verified(http, response.text)
    assert "BitstringStatusListCredential" in listing["type"] and listing["id"] == entry["statusListCredential"]
    encoded = listing["credentialSubject"]["encodedList"]
    assert encoded[0] == "u"  # multibase base64url
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(bits) * 8 >= 131_072, "herd privacy: the spec's minimum list size"
    index = int(entry["statusListIndex"])
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


async def test_the_credential_verifies_with_another_library_and_states_the_certificate(service):
    http, issued = service
    data = by_revision(issued, 0)
    person = completed(0)["data"]
    program = Programs.load(REPO_ROOT / "deploy" / "programs").get(PROGRAM)
    assert data["credential_url"].endswith(".jwt")
    token = (await http.get(data["credential_url"])).text
    assert person["nip"] not in token and person["nip"] not in json.dumps(await verified(http, token))

    vc = await verified(http, token)
    assert vc["@context"][:2] == ["https://www.w3.org/ns/credentials/v2",
                                  "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]  # fmt: skip
    assert "OpenBadgeCredential" in vc["type"] and vc["iss"] == vc["issuer"]["id"] and vc["jti"] == vc["id"]
    profile = (await http.get(vc["issuer"]["id"])).json()
    assert profile["url"] and "Profile" in profile["type"] and profile["name"] == vc["issuer"]["name"]
    assert (await http.get(profile["jwks_uri"])).json()["keys"], "the issuer names its public keys"

    subject = vc["credentialSubject"]
    assert subject["name"] == person["name"] and subject["creditsEarned"] == person["jp"] == 32
    assert subject["licenseNumber"] == data["number"]
    assert subject["activityStartDate"].startswith(str(program.sessions[0].date))
    assert subject["activityEndDate"].startswith(str(program.sessions[-1].date))
    [identity] = subject["identifier"]
    assert identity["hashed"] is True and identity["identityType"] == "identifier"
    # The salt is not published: with it, the 6 digits the verify page masks fall to a few thousand hashes.
    assert "salt" not in identity and identity["identityHash"].startswith("sha256$")
    assert identity["identityHash"] != "sha256$" + hashlib.sha256(person["nip"].encode()).hexdigest()
    achievement = subject["achievement"]
    # The default program's signer is a specimen: the credential says so, as the PDF does.
    assert achievement["name"] == f"{credentials.SPECIMEN_MARK}: {program.title}" and achievement["description"]
    assert achievement["creditsAvailable"] == program.jp_per_session * program.session_count
    assert (
        f"{program.completion.min_sessions} dari {program.session_count} sesi" in achievement["criteria"]["narrative"]
    )
    assert await status_bit(http, vc["credentialStatus"]) is False

    decoded = (await http.get(vc["id"])).json()  # the credential's id is its decoded JSON
    assert decoded["credentialSubject"] == subject and "iss" not in decoded
    assert_valid_achievement_credential(decoded)
    with pytest.raises(AssertionError, match="credentialSubject"):  # the schema is not vacuous
        assert_valid_achievement_credential({**decoded, "credentialSubject": {"achievement": {}}})


def assert_valid_achievement_credential(credential: dict) -> None:
    """1EdTech's published JSON Schema (vendored with its provenance in tests/schemas/README.md)."""
    import jsonschema

    schema = json.loads((REPO_ROOT / "tests" / "schemas" / "ob_v3p0_achievementcredential_schema.json").read_text())
    validator = jsonschema.Draft201909Validator(schema, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(credential)]
    assert not problems, problems


async def test_revoke_and_reissue_set_the_status_bit_a_verifier_reads(service):
    http, issued = service
    revoked, corrected, untouched = (by_revision(issued, i) for i in range(3))
    claims = {d["certificate_id"]: await verified(http, (await http.get(d["credential_url"])).text)
              for d in (revoked, corrected, untouched)}  # fmt: skip
    code = revoked["verify_url"].rsplit("/", 1)[1]
    assert (
        await http.post(f"/api/certificates/{code}/revoke", json={"reason": "salah data"}, headers=AUTH)
    ).status_code == 200
    assert await status_bit(http, claims[revoked["certificate_id"]]["credentialStatus"]) is True

    old = corrected["verify_url"].rsplit("/", 1)[1]
    response = await http.post(f"/api/certificates/{old}/reissue", json={"reason": "ejaan", "name": "Peserta Dua, S.Kom."},
                               headers=AUTH)  # fmt: skip
    assert response.status_code == 200, response.text
    assert await status_bit(http, claims[corrected["certificate_id"]]["credentialStatus"]) is True, "superseded"
    events = await issued.until(lambda evts: any(e["data"]["revision"] == 2 for e in evts), what="the re-issue")
    second = next(e["data"] for e in events if e["data"]["revision"] == 2)
    fresh = await verified(http, (await http.get(second["credential_url"])).text)
    assert fresh["credentialSubject"]["name"] == "Peserta Dua, S.Kom."
    assert (
        fresh["credentialStatus"]["statusListIndex"]
        == claims[corrected["certificate_id"]]["credentialStatus"]["statusListIndex"]
    )
    assert (
        fresh["credentialStatus"]["statusListCredential"]
        != claims[corrected["certificate_id"]]["credentialStatus"]["statusListCredential"]
    )
    assert await status_bit(http, fresh["credentialStatus"]) is False, "its own bit, in the next revision's list"
    assert await status_bit(http, claims[untouched["certificate_id"]]["credentialStatus"]) is False


async def test_the_signed_pdf_carries_its_credential_and_the_page_links_it(service):
    http, issued = service
    data = by_revision(issued, 1)
    code = data["verify_url"].rsplit("/", 1)[1]
    pdf = (await http.get(f"/certificates/{code}.pdf")).content
    token = (await http.get(data["credential_url"])).text
    attachments = PdfReader(io.BytesIO(pdf)).attachments
    assert attachments["credential.jwt"] == [token.encode()]
    signature = await asyncio.to_thread(check_signature, pdf)
    assert signature["intact"] and signature["valid"] and signature["covers_whole_file"]
    assert b"<pdfaid:part>3</pdfaid:part>" in pdf or b'pdfaid:part="3"' in pdf, "PDF/A-3, which allows the attachment"
    html = (await http.get(f"/verify/{code}")).text
    assert data["credential_url"] in html and "Tambahkan ke LinkedIn" in html
    assert "https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME" in html
    assert f"certId={data['number'].replace('/', '%2F')}" in html


async def test_unknown_or_hostile_credential_requests_are_404(service):
    http, _ = service
    assert (await http.get("/credentials/not-a-code.jwt")).status_code == 404
    assert (await http.get("/credentials/AAAAAAAAAAAAAAAAAAAAAA.json")).status_code == 404
    assert (await http.get(f"/status/{PROGRAM}/0")).status_code == 404
    assert (await http.get(f"/status/{PROGRAM}/abc")).status_code == 422
    # The issuer's key signs real lists only, never a caller's text (the review's signing oracle).
    assert (await http.get("/status/Sertifikat%20Palsu%3Cscript%3E/1")).status_code == 404
    assert (await http.get("/issuer/keys/not-a-thumbprint")).status_code == 404


async def test_a_status_list_is_valid_from_a_little_before_now_until_tomorrow(service):
    """A verifier whose clock is a little behind must not see "not yet valid"; an old copy of a list
    must not hide a later revocation for ever."""
    import time

    http, _ = service
    listing = await verified(http, (await http.get(f"/status/{PROGRAM}/1")).text)
    now = time.time()
    assert listing["nbf"] <= now - 60 and now + 3600 < listing["exp"] <= now + 2 * 86400
    assert listing["validFrom"] < listing["validUntil"]


async def test_the_credential_is_kept_in_the_record_and_older_ones_beside_the_pdf_still_serve(
    amqp_url, mongodb_url, s3, signing_key, credential_keys
):
    """One object per certificate (the PDF, which embeds the credential); the JWT itself is written
    with the record's hash. Certificates issued when it was a second object keep their URL."""
    settings = settings_for(amqp_url, mongodb_url, s3, unique("certificates")).model_copy(update={
        "signing_pkcs12_path": signing_key.path, "signing_pkcs12_passphrase": signing_key.passphrase,
        "public_rate_limit": "1000/minute", "credential_keys_dir": credential_keys})  # fmt: skip
    app = create_app(settings)
    async with running(app) as http, Bus(amqp_url) as bus:
        issued = await bus.watch("certificate.issued")
        for i in range(2):
            await bus.publish("completed", completed(i))
        events = await issued.until(lambda evts: len({e["id"] for e in evts}) == 2, what="two certificates")
        ports = app.state.runtime.ports()
        first, second = {e["id"]: e["data"] for e in events}.values()
        tokens = {d["certificate_id"]: (await http.get(d["credential_url"])).text for d in (first, second)}
        for d in (first, second):
            assert tokens[d["certificate_id"]] == await ports.certificates.credential(d["certificate_id"])
            await verified(http, tokens[d["certificate_id"]])

        objects = [o.object_name for o in ports.store._client.list_objects(settings.s3_bucket, recursive=True)]
        assert len(objects) == 2 and all(name.endswith(".pdf") for name in objects), objects

        # As a certificate issued before the change: the JWT only as the object beside the PDF.
        cert = await ports.certificates.by_id(second["certificate_id"])
        await ports.store.put(credentials.object_key(cert.object_key), b"older.stored.jwt", credentials.MEDIA_TYPE)
        await ports.certificates.collection.update_one({"_id": cert.certificate_id}, {"$unset": {"credential_jwt": ""}})
        assert (await http.get(second["credential_url"])).text == "older.stored.jwt"
        assert (await http.get(first["credential_url"])).text == tokens[first["certificate_id"]]
        # Before a rollback to a version that reads only objects, the operator writes them back.
        assert await write_back(settings) == 1  # the first one: the second's record no longer has it
        objects = {o.object_name for o in ports.store._client.list_objects(settings.s3_bucket, recursive=True)}
        first_cert = await ports.certificates.by_id(first["certificate_id"])
        assert credentials.object_key(first_cert.object_key) in objects
        assert (await ports.store.get(credentials.object_key(first_cert.object_key))).decode() == tokens[
            first["certificate_id"]
        ]
        # Issued before the service had credential keys: neither the field nor the object.
        await ports.certificates.collection.update_one(
            {"_id": first["certificate_id"]}, {"$unset": {"credential_jwt": ""}}
        )
        ports.store._client.remove_object(settings.s3_bucket, credentials.object_key(first_cert.object_key))
        missing = await http.get(first["credential_url"])
        assert missing.status_code == 404 and missing.json()["detail"] == "this certificate has no credential"
