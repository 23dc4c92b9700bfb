"""The compose gateway's own config (deploy/nginx.conf) in a real nginx (Debian's), in front of the
real certificate service served by uvicorn as in production: HTTPS with HTTP redirected, and a
client's X-Forwarded-For never reaches the service, so it cannot escape the rate limit."""

import asyncio
import datetime as dt
import ipaddress
import shutil
import ssl
import subprocess

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devstack.servers import die_with_parent, free_port, port_open
from services.certificates.app import create_app
from shared.platform.settings import REPO_ROOT
from tests.integration.test_certificates_service import settings_for
from tests.support import eventually, unique

pytestmark = pytest.mark.integration
UNKNOWN = "A" * 22  # a well-formed code no certificate has: 404, after the rate limit


def self_signed(directory) -> tuple:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))  # fmt: skip
    crt, pem = directory / "tls.crt", directory / "tls.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return crt, pem


def render(conf: str, replacements: dict[str, str]) -> str:
    """deploy/nginx.conf with local ports, upstreams and certificate paths instead of compose's."""
    for old, new in replacements.items():
        assert old in conf, f"deploy/nginx.conf no longer has {old!r}: update this test"
        conf = conf.replace(old, new)
    return conf


@pytest.fixture
async def gateway(amqp_url, mongodb_url, s3, tmp_path):
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None:
        pytest.fail("nginx is not installed (scripts/test installs Debian's nginx-light)")
    service_port, http_port, https_port = free_port(), free_port(), free_port()
    settings = settings_for(amqp_url, mongodb_url, s3, unique("certificates")).model_copy(
        update={"public_rate_limit": "3/minute"}
    )
    # As shared.platform.runtime.serve runs it, trusting X-Forwarded-For from the gateway's address only.
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=service_port, log_config=None,
                                           access_log=False, proxy_headers=True, forwarded_allow_ips="127.0.0.1"))  # fmt: skip
    serving = asyncio.create_task(server.serve())

    crt, key = self_signed(tmp_path)
    upstream = f"http://127.0.0.1:{service_port}"
    site = render(
        (REPO_ROOT / "deploy" / "nginx.conf").read_text(),
        {
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
            "/run/secrets/tls.crt": str(crt),
            "/run/secrets/tls.key": str(key),
            "http://enrollment:8000": upstream,
            "http://attendance:8000": upstream,
            "http://certificates:8000": upstream,
        },
    )
    (tmp_path / "site.conf").write_text(site)
    temp = " ".join(
        f"{kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"daemon off; master_process off; pid {tmp_path / 'nginx.pid'}; error_log {tmp_path / 'error.log'} warn;\n"
        f"events {{ worker_connections 64; }}\nhttp {{ access_log off; {temp} include {tmp_path / 'site.conf'}; }}\n"
    )
    command = [nginx, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(command, preexec_fn=die_with_parent, stderr=subprocess.PIPE)
    try:

        async def service_started():
            return server.started or serving.done()

        async def nginx_listening():
            return port_open(https_port) or process.poll() is not None

        await eventually(service_started, what="the certificate service")
        assert server.started, "uvicorn did not start"
        await eventually(nginx_listening, what="nginx")
        assert process.poll() is None, process.stderr.read().decode()
        tls = ssl.create_default_context(cafile=str(crt))
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{https_port}", verify=tls, timeout=10) as https:
            yield https, f"http://127.0.0.1:{http_port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        server.should_exit = True
        await serving


async def test_a_spoofed_x_forwarded_for_does_not_escape_the_rate_limit(gateway):
    https, _ = gateway
    for i in range(3):
        spoofed = {"X-Forwarded-For": f"203.0.113.{i}", "X-Real-IP": f"198.51.100.{i}", "Forwarded": f"for=192.0.2.{i}"}
        response = await https.get(f"/verify/{UNKNOWN}", headers=spoofed)
        assert response.status_code == 404, response.text
    over = await https.get(f"/verify/{UNKNOWN}", headers={"X-Forwarded-For": "203.0.113.99"})
    assert over.status_code == 429, "a new X-Forwarded-For made a new client: the gateway passed the client's header on"
    assert int(over.headers["retry-after"]) >= 1


async def test_the_gateway_speaks_https_and_sends_plain_http_there(gateway):
    https, plain = gateway
    page = await https.head(f"/verify/{UNKNOWN}")
    assert page.status_code == 404, "HEAD reaches the service through the gateway"
    assert page.headers["strict-transport-security"].startswith("max-age=")
    async with httpx.AsyncClient(base_url=plain, timeout=10) as http:
        moved = await http.get(f"/verify/{UNKNOWN}?x=1")
        assert moved.status_code == 301 and moved.headers["location"] == f"https://127.0.0.1/verify/{UNKNOWN}?x=1"
        assert (await http.get("/healthz")).status_code == 200, "the container's health check stays on plain HTTP"
    assert (await https.get("/healthz")).status_code == 200
