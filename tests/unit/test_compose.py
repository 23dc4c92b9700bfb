"""compose.yaml, checked without a Docker engine: schema, scaling safety, settings names."""

import json
import re

import jsonschema
import pytest
import yaml

from services.attendance.app import Settings as AttendanceSettings
from services.certificates.app import Settings as CertificateSettings
from services.enrollment.app import Settings as EnrollmentSettings
from shared.platform.settings import REPO_ROOT

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
    assert (
        COMPOSE["services"]["rabbitmq"]["image"].startswith("rabbitmq:4")
        and "management" in COMPOSE["services"]["rabbitmq"]["image"]
    )


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


COMPOSE_TEXT = (REPO_ROOT / "compose.yaml").read_text()
NGINX = (REPO_ROOT / "deploy" / "nginx.conf").read_text()
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z0-9_]+)(?P<op>:?[-?+])?(?P<rest>[^}]*)\}")
SECRET = re.compile(r"PASSWORD|SECRET|PASSPHRASE|PUBLIC_BASE_URL")


def test_secrets_and_the_public_url_have_no_defaults_compose_refuses_to_start_without_them():
    used = [m for m in VARIABLE.finditer(COMPOSE_TEXT.replace("$$", "")) if SECRET.search(m["name"])]
    assert {m["name"] for m in used} >= {"RABBITMQ_ADMIN_PASSWORD", "MONGO_ROOT_PASSWORD", "MINIO_ROOT_PASSWORD",
                                         "S3_SECRET_KEY", "PUBLIC_BASE_URL", "SIGNING_PKCS12_PASSPHRASE"}  # fmt: skip
    defaulted = sorted({m.group(0) for m in used if m["op"] != ":?"})
    assert not defaulted, f"a secret with a default (or none required): {defaulted}"
    assert "change-me" not in COMPOSE_TEXT


def test_env_example_lists_every_required_variable_and_nothing_else():
    example = (REPO_ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    required = {m["name"] for m in VARIABLE.finditer(COMPOSE_TEXT.replace("$$", "")) if m["op"] == ":?"}
    assert required - listed == set(), "required by compose.yaml, missing from .env.example"
    assert listed - {m["name"] for m in VARIABLE.finditer(COMPOSE_TEXT)} == set(), (
        "in .env.example, unused by compose.yaml"
    )
    assert "change-me" not in example


def test_the_gateway_offers_tls_from_compose_secrets_and_redirects_plain_http():
    gateway = COMPOSE["services"]["gateway"]
    assert any(str(port).endswith(":443") for port in gateway["ports"])
    assert set(gateway["secrets"]) == {"tls.crt", "tls.key"} and {"tls.crt", "tls.key"} <= set(COMPOSE["secrets"])
    assert re.search(r"listen 443 ssl;", NGINX)
    assert "ssl_certificate /run/secrets/tls.crt;" in NGINX and "ssl_certificate_key /run/secrets/tls.key;" in NGINX
    plain = NGINX.split("listen 443 ssl;")[0]
    assert "listen 80;" in plain and "return 301 https://$host$request_uri;" in plain and "proxy_pass" not in plain
    assert (REPO_ROOT / "deploy" / "secrets" / "README.md").read_text().count("tls.") >= 2, "documented"


def test_the_services_believe_x_forwarded_for_from_the_gateway_alone():
    import ipaddress

    address = COMPOSE["services"]["gateway"]["networks"]["default"]["ipv4_address"]
    subnet = COMPOSE["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    trusting = {name: s["environment"]["FORWARDED_ALLOW_IPS"] for name, s in COMPOSE["services"].items()
                if "FORWARDED_ALLOW_IPS" in s.get("environment", {})}  # fmt: skip
    assert set(SCALED) <= set(trusting) and set(trusting.values()) == {address}, trusting
    # The gateway overwrites what the client sent; appending ($proxy_add_x_forwarded_for) lets it through.
    assert (
        "proxy_set_header X-Forwarded-For $remote_addr;" in NGINX
        and "proxy_set_header X-Real-IP $remote_addr;" in NGINX
    )
    assert "$proxy_add_x_forwarded_for" not in NGINX and "$http_x_forwarded_for" not in NGINX


def test_the_certificate_services_s3_identity_may_use_its_own_bucket_only():
    init = COMPOSE["services"]["minio-init"]
    bucket = COMPOSE["services"]["certificates"]["environment"]["S3_BUCKET"]
    assert init["environment"]["S3_BUCKET"] == bucket and "${" not in bucket
    mount = next(v for v in init["volumes"] if v.startswith("./deploy/minio/"))
    source, target = mount.split(":")[:2]
    policy = json.loads((REPO_ROOT / source).read_text())
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket"} <= actions and not any("*" in a for a in actions)
    assert all(statement["Effect"] == "Allow" for statement in policy["Statement"])
    script = init["command"][0]
    assert f"mc admin policy create local humas-certificates {target}" in script
    assert 'mc admin policy attach local humas-certificates --user "$$S3_ACCESS_KEY"' in script
    assert "attach local readwrite" not in script, "readwrite is every bucket"


def test_setup_failures_are_not_hidden():
    assert "|| true" not in COMPOSE_TEXT and "|| :" not in COMPOSE_TEXT
    for name, service in COMPOSE["services"].items():
        if service.get("entrypoint") == ["/bin/sh", "-c"]:
            assert service["command"][0].lstrip().startswith("set -e"), name
