"""Writes docs/asyncapi/<service>.json from the code (run after changing subscribers/publishers)."""

import importlib
import json
import sys
from pathlib import Path

from shared.platform.runtime import asyncapi_document
from shared.platform.settings import REPO_ROOT

SERVICES = ("enrollment", "attendance", "certificates")
TARGET = REPO_ROOT / "docs" / "asyncapi"


def render(service: str) -> str:
    app = importlib.import_module(f"services.{service}.app").create_app()
    return json.dumps(asyncapi_document(app.state.runtime), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(target: Path = TARGET) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        (target / f"{service}.json").write_text(render(service))
        print(f"wrote {target / f'{service}.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
