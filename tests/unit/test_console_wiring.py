"""The console in compose.yaml and behind the gateway, checked without a Docker engine."""

from services.console.settings import ConsoleSettings
from shared.platform.settings import REPO_ROOT
from tests.unit.test_compose import COMPOSE


def test_every_environment_name_the_console_gets_is_one_it_reads():
    env = COMPOSE["services"]["console"]["environment"]
    assert set(env) <= {f.upper() for f in ConsoleSettings.model_fields}, set(env)
    assert env["AMQP_URL"].startswith("amqp://humas-operator:"), "dead letters as the operator user, nothing more"
    assert not any(k.startswith(("MONGODB", "S3_")) for k in env), "it holds no data"


def test_the_services_let_only_the_console_act_for_others():
    for name in ("enrollment", "attendance", "certificates"):
        assert COMPOSE["services"][name]["environment"]["OPERATOR_DELEGATES"] == "${OPERATOR_DELEGATES:-console}"


def test_the_gateway_routes_console_pages_to_it():
    nginx = (REPO_ROOT / "deploy" / "nginx.conf").read_text()
    assert "location /console/ {\n        set $console http://console:8000;" in nginx
