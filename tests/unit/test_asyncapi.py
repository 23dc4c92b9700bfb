import json

import pytest

from devstack.asyncapi import SERVICES, TARGET, render


@pytest.mark.parametrize("service", SERVICES)
def test_committed_asyncapi_documents_match_the_code(service):
    committed = (TARGET / f"{service}.json").read_text()
    assert committed == render(service), "regenerate with: .venv/bin/python -m devstack.asyncapi"


def test_published_events_are_documented_with_their_envelope():
    document = json.loads(render("certificates"))
    schemas = document["components"]["schemas"]
    assert "CertificateIssuedEvent" in schemas and "CertificateIssuedData" in schemas
    assert schemas["CertificateIssuedEvent"]["properties"]["type"]["const"] == "humas.certificate.issued.v1"
    addresses = {c["address"] for c in document["channels"].values()}
    assert {"completed", "certificate.issued"} <= addresses
