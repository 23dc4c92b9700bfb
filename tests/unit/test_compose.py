"""compose.yaml, checked without a Docker engine: schema, scaling safety, settings names."""

import json
import re

import jsonschema
import pytest
import yaml

from services.attendance.app import Settings as AttendanceSettings
from services.certificates.app import Settings as CertificateSettings
from services.enrollment.app import Settings as EnrollmentSettings
from shared.settings import REPO_ROOT

SCHEMA = json.loads((REPO_ROOT / "tests" / "schemas" / "compose-spec.json").read_text())
COMPOSE = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
SERVICES = {"enrollment": EnrollmentSettings, "attendance": AttendanceSettings, "certificates": CertificateSettings}
SCALED = ("certificates", "attendance", "enrollment")


def test_compose_file_follows_the_compose_specification():
    jsonschema.Draft201909Validator(SCHEMA).validate(COMPOSE)


def test_the_schema_check_can_fail():
    broken = {**COMPOSE, "services": {**COMPOSE["services"], "x": {"image": "a", "depends_on": {"y": {"when": 1}}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft201909Validator(SCHEMA).validate(broken)


@pytest.mark.parametrize("name", SCALED)
def test_scaled_services_have_no_fixed_name_or_host_port(name):
    service = COMPOSE["services"][name]
    assert "container_name" not in service
    assert "ports" not in service, "a fixed host port breaks --scale; the gateway publishes it"


@pytest.mark.parametrize("name", ["mongo", "minio", "minio-init"])
def test_internal_stores_publish_no_host_ports(name):
    assert "ports" not in COMPOSE["services"][name]


@pytest.mark.parametrize(("name", "settings"), SERVICES.items())
def test_every_environment_name_set_is_one_the_service_reads(name, settings):
    env = COMPOSE["services"][name]["environment"]
    readable = {field.upper() for field in settings.model_fields}
    assert set(env) <= readable, set(env) - readable
    assert {"AMQP_URL", "MONGODB_URL", "MONGODB_DATABASE", "HTTP_HOST"} <= set(env)


def test_the_certificate_service_gets_s3_and_a_public_url():
    env = COMPOSE["services"]["certificates"]["environment"]
    assert {"S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET", "PUBLIC_BASE_URL"} <= set(env)
    for name in ("enrollment", "attendance"):
        assert not any(k.startswith("S3_") for k in COMPOSE["services"][name]["environment"]), "only it holds S3 keys"


@pytest.mark.parametrize("name", [*SCALED, "rabbitmq", "mongo", "minio", "gateway"])
def test_long_running_services_have_healthchecks_and_wait_for_healthy_dependencies(name):
    service = COMPOSE["services"][name]
    assert service["healthcheck"]["test"]
    for dependency, condition in (service.get("depends_on") or {}).items():
        assert condition["condition"] in ("service_healthy", "service_completed_successfully"), dependency


def test_images_are_pinned_and_the_services_are_built_from_the_dockerfile():
    for name, service in COMPOSE["services"].items():
        if "image" in service and "build" not in service:
            assert re.search(r":[\w.-]+$", service["image"]) and not service["image"].endswith(":latest"), name
    for name in SCALED:
        assert COMPOSE["services"][name]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert COMPOSE["services"]["rabbitmq"]["image"].startswith("rabbitmq:4") and "management" in COMPOSE["services"]["rabbitmq"]["image"]


@pytest.mark.parametrize("name", SCALED)
def test_each_service_connects_as_its_own_least_privileged_user(name):
    env = COMPOSE["services"][name]["environment"]
    assert env["AMQP_URL"].startswith(f"amqp://humas-{name}:"), "its own RabbitMQ user (ops/rabbitmq_users.py)"
    assert re.match(rf"mongodb://{name}:.*@mongo:27017/{name}\?authSource={name}$", env["MONGODB_URL"])


def test_the_brokers_users_come_from_the_definitions_and_the_databases_users_from_the_init_script():
    definitions = COMPOSE["services"]["rabbitmq-definitions"]
    roles = {k.removeprefix("RABBITMQ_").removesuffix("_PASSWORD").lower() for k in definitions["environment"]}
    from ops.rabbitmq_users import ROLES

    assert roles == set(ROLES)
    assert "RABBITMQ_DEFAULT_USER" not in COMPOSE["services"]["rabbitmq"].get("environment", {})
    conf = (REPO_ROOT / "deploy" / "rabbitmq" / "rabbitmq.conf").read_text()
    assert "load_definitions = /etc/rabbitmq/definitions/definitions.json" in conf
    init = (REPO_ROOT / "deploy" / "mongo" / "init-users.js").read_text()
    mongo_env = COMPOSE["services"]["mongo"]["environment"]
    for name in SCALED:
        assert f"MONGO_{name.upper()}_PASSWORD" in mongo_env and '"readWrite"' in init
