"""The console's key may say which signed-in person acts; no other key may (shared/platform/auth.py)."""

import httpx
import pytest
from fastapi import Depends, FastAPI

from shared.platform import auth

CONSOLE_KEY, OTHER_KEY = auth.new_key(), auth.new_key()


def app(delegates: str) -> FastAPI:
    keys = auth.OperatorKeys.parse(f"console:{auth.hash_key(CONSOLE_KEY)},budi:{auth.hash_key(OTHER_KEY)}", delegates)
    api = FastAPI()

    @api.post("/act")
    async def act(who: str = Depends(auth.operator_dependency(keys))) -> dict:
        return {"who": who}

    return api


async def call(api: FastAPI, key: str, acting: str | None = None) -> httpx.Response:
    headers = {"X-API-Key": key, **({"X-Acting-Operator": acting} if acting else {})}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://t") as client:
        return await client.post("/act", headers=headers)


async def test_a_delegating_key_records_the_person():
    response = await call(app("console"), CONSOLE_KEY, "siti")
    assert response.status_code == 200 and response.json() == {"who": "console:siti"}


async def test_without_the_header_the_key_is_who_acts():
    assert (await call(app("console"), CONSOLE_KEY)).json() == {"who": "console"}


@pytest.mark.parametrize("delegates", ["", "someone-else"])
async def test_a_key_not_marked_as_delegate_may_not_act_for_others(delegates):
    response = await call(app(delegates), CONSOLE_KEY, "siti")
    assert response.status_code == 403, response.text


async def test_an_ordinary_key_may_not_act_for_others():
    assert (await call(app("console"), OTHER_KEY, "siti")).status_code == 403


@pytest.mark.parametrize("acting", ["siti budi", "x" * 65, "siti:admin", "../siti\tx"])
async def test_a_malformed_acting_name_is_refused(acting):
    response = await call(app("console"), CONSOLE_KEY, acting)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("name", ["console:siti", "budi siti", "", "x" * 65, "../ops", "rina\n"])
def test_a_key_name_that_could_pass_for_someone_else_is_refused(name):
    with pytest.raises(ValueError, match="OPERATOR_API_KEYS"):
        auth.OperatorKeys.parse(f"budi:{auth.hash_key(OTHER_KEY)},{name}:{auth.hash_key(CONSOLE_KEY)}")


@pytest.mark.parametrize("name", ["budi", "rina.s", "local-operator", "ops_2", "rina@kemenag"])
def test_key_names_made_by_ops_api_keys_are_accepted(name):
    keys = auth.OperatorKeys.parse(f"{name}:{auth.hash_key(OTHER_KEY)}")
    assert keys.identify(OTHER_KEY) == name
