"""The pure parts of the Open Badges credentials: the status list encoding, the NIP hash, the
LinkedIn link, and key rotation (an old credential keeps verifying once a new key signs)."""

import datetime as dt
import json
import urllib.parse

from jwcrypto import jwk, jwt

from devstack.keys import make_key
from services.certificates import credentials, domain
from services.certificates.issuer_keys import IssuerKeys
from shared.contract.programs import Programs
from shared.platform.settings import REPO_ROOT

PROGRAM = Programs.load(REPO_ROOT / "deploy" / "programs").get("humas-level-up-2026")
LINKS = domain.Links("https://sertifikat.example.go.id")


def certificate(**changes) -> domain.Certificate:
    cert = domain.Certificate(
        certificate_id="c1", code="A" * 22, program_id=PROGRAM.id, nip="198503122010011004", revision=1,
        name="Siti Aminah", jenjang="ahli_muda", unit_kerja="Biro Humas", sessions=tuple(range(1, 13)), jp=24,
        completed_at=dt.datetime(2026, 9, 25, tzinfo=dt.UTC), issued_at=dt.datetime(2026, 10, 2, 3, tzinfo=dt.UTC),
        seq=7, number="0007/BH/HUMAS-LU/2026", sha256="0" * 64, status="valid", specimen=False)  # fmt: skip
    return domain.replace(cert, **changes)


def test_the_status_list_sets_exactly_the_given_bits_msb_first_and_is_at_least_16_kb():
    bits = credentials.decode_list(credentials.encode_list([0, 9, 131_071]))
    assert len(bits) == 16_384
    assert [i for i in range(len(bits) * 8) if credentials.bit(bits, i)] == [0, 9, 131_071]
    assert bits[0] == 0x80 and bits[1] == 0x40
    assert credentials.decode_list(credentials.encode_list([200_000])).__len__() * 8 > 200_000, "grows when needed"
    assert credentials.encode_list([3]) == credentials.encode_list([3]), "reproducible bytes"


def test_the_index_is_the_number_and_the_list_is_the_revisions():
    vc = credentials.credential(PROGRAM, certificate(), LINKS, "ab" * 16)
    again = credentials.credential(
        PROGRAM, certificate(revision=2, code="B" * 22, certificate_id="c2"), LINKS, "cd" * 16
    )
    assert vc["credentialStatus"]["statusListIndex"] == again["credentialStatus"]["statusListIndex"] == "6"
    assert vc["credentialStatus"]["statusListCredential"].endswith(f"/status/{PROGRAM.id}/1")
    assert again["credentialStatus"]["statusListCredential"].endswith(f"/status/{PROGRAM.id}/2")


def test_the_subject_carries_a_salted_hash_of_the_nip_never_the_nip():
    cert = certificate()
    vc = credentials.credential(PROGRAM, cert, LINKS, credentials.new_salt())
    assert cert.nip not in json.dumps(vc)
    other = credentials.credential(PROGRAM, cert, LINKS, credentials.new_salt())
    assert (
        vc["credentialSubject"]["identifier"][0]["identityHash"]
        != other["credentialSubject"]["identifier"][0]["identityHash"]
    )


def test_the_linkedin_link_uses_linkedins_add_to_profile_parameters():
    url = urllib.parse.urlsplit(credentials.linkedin_url(PROGRAM, certificate(), LINKS))
    assert (url.scheme, url.netloc, url.path) == ("https", "www.linkedin.com", "/profile/add")
    query = dict(urllib.parse.parse_qsl(url.query))
    assert query == {"startTask": "CERTIFICATION_NAME", "name": PROGRAM.title,
                     "organizationName": credentials.LINKEDIN_ORGANIZATION, "issueYear": "2026", "issueMonth": "10",
                     "certUrl": LINKS.verify("A" * 22), "certId": "0007/BH/HUMAS-LU/2026"}  # fmt: skip


def test_a_specimens_credential_and_linkedin_entry_say_so():
    """Until a real signer is configured the PDF says CONTOH; what travels to wallets and LinkedIn must too."""
    specimen = certificate(specimen=True)
    vc = credentials.credential(PROGRAM, specimen, LINKS, "ab" * 16)
    achievement = vc["credentialSubject"]["achievement"]
    assert vc["name"].startswith(credentials.SPECIMEN_MARK) and achievement["name"].startswith(
        credentials.SPECIMEN_MARK
    )
    assert credentials.SPECIMEN_MARK in achievement["description"]
    query = dict(
        urllib.parse.parse_qsl(urllib.parse.urlsplit(credentials.linkedin_url(PROGRAM, specimen, LINKS)).query)
    )
    assert query["name"] == f"{credentials.SPECIMEN_MARK}: {PROGRAM.title}"
    official = credentials.credential(PROGRAM, certificate(), LINKS, "ab" * 16)
    assert "CONTOH" not in json.dumps(official)


def test_after_rotation_the_new_key_signs_and_old_credentials_still_verify(tmp_path):
    make_key(tmp_path / "2026-01-01.pem")
    old = IssuerKeys(tmp_path, "https://x/issuer/jwks.json")
    token = old.sign({"iss": "https://x/issuer", "n": 1})
    make_key(tmp_path / "2027-01-01.pem")
    rotated = IssuerKeys(tmp_path, "https://x/issuer/jwks.json")
    assert rotated.kid != old.kid and len(rotated.jwks()["keys"]) == 2
    published = jwk.JWKSet.from_json(json.dumps(rotated.jwks()))
    assert json.loads(jwt.JWT(jwt=token, key=published, algs=["RS256"]).claims)["n"] == 1
    newer = rotated.sign({"n": 2})
    assert json.loads(jwt.JWT(jwt=newer, key=published, algs=["RS256"]).claims)["n"] == 2
    assert all("d" not in key for key in rotated.jwks()["keys"]), "never a private part"
