"""Who may say what on the bus, as configuration: one table in the contract code, turned into the
broker's topic permissions, the consumers' queues and the certificate service's trusted logins."""

import re

import pytest
import yaml

from ops import deadletters, rabbitmq_users
from services.attendance.app import create_app as attendance_app
from services.certificates.app import Settings as CertificateSettings
from services.certificates.app import create_app as certificates_app
from services.enrollment.app import create_app as enrollment_app
from shared import contract
from shared.platform.settings import REPO_ROOT, names

KEYS = tuple(contract.TYPE_BY_ROUTING_KEY)


def allowed(pattern: str, keys=KEYS) -> set[str]:
    return {key for key in keys if re.search(pattern, key)}


def test_the_producer_table_is_the_contracts_produced_by_column():
    assert set(contract.PRODUCERS) == set(KEYS)
    assert contract.PRODUCERS[contract.COMPLETED] == (contract.ATTENDANCE,)
    assert allowed(rabbitmq_users.TOPIC_PERMISSIONS["upstream"][0]) == {"enrolled", "attended", "withdrawn"}


@pytest.mark.parametrize("role", [r for r in rabbitmq_users.ROLES if r != "admin"])
def test_each_login_may_publish_what_it_produces_and_bind_what_it_consumes(role):
    write, read = rabbitmq_users.TOPIC_PERMISSIONS[role]
    produces = {k for k, roles in contract.PRODUCERS.items() if role in roles}
    assert allowed(write) == (set(contract.REPLAYABLE) if role == contract.OPERATOR else produces)
    assert allowed(read) == set(contract.CONSUMES.get(role, ())) | set(contract.ANNOUNCED.get(role, ()))
    assert not allowed(write, ["completed.v2", "x.completed", "#", "certificate.issued.x"])


def test_the_definitions_file_carries_the_topic_permissions():
    defs = rabbitmq_users.definitions(rabbitmq_users.new_passwords(), "/", "humas")
    topic = {p["user"]: p for p in defs["topic_permissions"]}
    assert set(topic) == {rabbitmq_users.username(r) for r in rabbitmq_users.ROLES}
    assert {p["exchange"] for p in topic.values()} == {contract.EXCHANGE}
    assert topic["humas-attendance"]["write"] == "^(completed)$"


@pytest.mark.parametrize(("service", "create_app"), [("enrollment", enrollment_app), ("attendance", attendance_app),
                                                     ("certificates", certificates_app)])  # fmt: skip
def test_each_service_consumes_what_the_contract_code_says(service, create_app):
    queues = create_app().state.runtime.queues
    assert sorted(queues) == sorted(f"{service}.{key}" for key in contract.CONSUMES[service])
    assert set(queues) <= set(deadletters.CONSUMER_QUEUES), "operators can list and replay them"


def test_the_certificate_service_believes_the_attendance_and_operator_logins_and_never_guest():
    default = CertificateSettings().completed_publishers
    assert default == rabbitmq_users.trusted(contract.COMPLETED) == "humas-attendance,humas-operator"
    env = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())["services"]["certificates"]["environment"]
    assert "guest" not in names(env.get("COMPLETED_PUBLISHERS", default))
    assert names(" a, b ,,") == {"a", "b"} and names("") == frozenset()
