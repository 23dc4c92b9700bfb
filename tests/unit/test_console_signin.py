"""The console's sign-in: argon2 passwords, CSRF on every form, a limit on failures, cookie flags,
logout and expiry. In process (no services are called on these pages)."""

import re

import httpx

from services.console.app import COOKIE, create_app
from services.console.security import Sessions, hash_password
from services.console.settings import ConsoleSettings

PASSWORD = "kata-sandi-yang-panjang"


def console(**overrides):
    settings = ConsoleSettings(console_users=f"siti:{hash_password(PASSWORD)},budi:{hash_password('lain')}",
                               console_api_key="hlu_test", **overrides)  # fmt: skip
    return create_app(settings)


def client(app, base="http://console.test") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def sign_in(c: httpx.AsyncClient, name="siti", password=PASSWORD, token=None) -> httpx.Response:
    page = await c.get("/console/masuk")
    data = {"nama": name, "kata_sandi": password}
    if token is not False:
        data["csrf"] = token or csrf_of(page.text)
    return await c.post("/console/masuk", data=data)


async def test_the_right_password_signs_in_with_a_new_httponly_strict_cookie():
    async with client(console()) as c:
        first = await c.get("/console/masuk")
        anonymous = c.cookies[COOKIE]
        response = await sign_in(c)
        assert response.status_code == 303 and response.headers["location"] == "/console/"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie, cookie
        assert "Secure" not in cookie  # plain HTTP on a developer's machine
        assert c.cookies[COOKIE] != anonymous, "a new session id at sign-in"
        assert first.headers["content-security-policy"].startswith("default-src 'none'")


async def test_the_cookie_is_secure_behind_tls():
    async with client(console(), "https://console.test") as c:  # the gateway forwards the scheme
        response = await sign_in(c)
        assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]
    async with client(console(console_secure_cookies=True)) as c:  # or TLS ends before the gateway
        assert "Secure" in (await c.get("/console/masuk")).headers["set-cookie"]


async def test_a_form_without_its_csrf_token_is_refused():
    async with client(console()) as c:
        assert (await sign_in(c, token=False)).status_code == 403
        assert (await sign_in(c, token="forged")).status_code == 403
        assert (await sign_in(c)).status_code == 303
        # Signed in, a form post without the token still changes nothing: sign-out refused.
        assert (await c.post("/console/keluar", data={})).status_code == 403
        assert (await c.get("/console/roster")).status_code == 200


async def test_a_wrong_password_is_refused_then_rate_limited():
    async with client(console(console_login_rate_limit="3/minute")) as c:
        for _ in range(3):
            response = await sign_in(c, "budi", "salah")
            assert response.status_code == 401 and "kata sandi salah" in response.text
        limited = await sign_in(c, "budi", "lain")  # even the right password, while over the limit
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert COOKIE in c.cookies and (await c.get("/console/", follow_redirects=False)).status_code == 303
        # Another account from the same address is not locked by budi's failures.
        assert (await sign_in(c)).status_code == 303


async def test_an_unknown_user_is_refused_like_a_wrong_password():
    async with client(console()) as c:
        response = await sign_in(c, "tidak-ada", PASSWORD)
        assert response.status_code == 401 and "kata sandi salah" in response.text


async def test_sign_out_ends_the_session():
    async with client(console()) as c:
        await sign_in(c)
        home = await c.get("/console/roster")
        out = await c.post("/console/keluar", data={"csrf": csrf_of(home.text)})
        assert out.status_code == 303 and out.headers["location"] == "/console/masuk"
        again = await c.get("/console/roster")
        assert again.status_code == 303 and again.headers["location"] == "/console/masuk"


def test_sessions_expire_when_idle_and_at_most_after_the_maximum(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("services.console.security.time.monotonic", lambda: now[0])
    sessions = Sessions(idle_seconds=60, max_seconds=300)
    s = sessions.new("siti")
    now[0] += 59
    assert sessions.get(s.id) is s
    now[0] += 61
    assert sessions.get(s.id) is None, "idle too long"
    s = sessions.new("siti")
    for _ in range(7):
        now[0] += 50
        sessions.get(s.id)
    assert sessions.get(s.id) is None, "past the maximum, however active"


async def test_pages_need_a_session():
    async with client(console()) as c:
        for path in ("/console/", "/console/roster", "/console/peserta", "/console/sertifikat", "/console/ekspor"):
            response = await c.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/console/masuk", path


def test_an_anonymous_flood_never_signs_an_operator_out():
    sessions = Sessions(idle_seconds=3600, max_seconds=36000)
    operator = sessions.new("siti")
    first_anonymous = sessions.new()
    for _ in range(10_001):  # one more than the cap: GET /console/masuk without a cookie, again and again
        sessions.new()
    assert sessions.get(operator.id) is operator, "an anonymous flood signed the operator out"
    assert sessions.get(first_anonymous.id) is None, "anonymous sessions stay bounded"


async def test_failures_for_one_name_from_many_addresses_are_limited():
    app = console(console_login_rate_limit_account="4/minute")
    for i in range(4):  # one failure from each of four addresses: no per-address limit is reached
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(f"10.0.0.{i}", 1234)),
                                     base_url="http://console.test") as c:  # fmt: skip
            assert (await sign_in(c, "budi", "salah")).status_code == 401
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.0.0.99", 1234)),
                                 base_url="http://console.test") as c:  # fmt: skip
        limited = await sign_in(c, "budi", "lain")  # a fresh address, even the right password
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert (await sign_in(c)).status_code == 303, "other accounts are not held back"
