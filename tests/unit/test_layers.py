"""House rules that test themselves, read from the imports with `ast`.

- No service imports another service: they meet only on the bus and over HTTP.
- `shared/` imports no service.
- The contract (`shared/contract/`: what an integrator reads) imports no platform code, no
  service and no I/O library; the platform (`shared/platform/`) may use the contract.
- Production code (services, shared, ops) imports no dev tooling (devstack, bench, tests).
- A `domain.py` is pure: no database, web, broker or object-store library.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "__init__.py").exists())
IO_LIBRARIES = {
    "pymongo",
    "motor",
    "fastapi",
    "starlette",
    "faststream",
    "aio_pika",
    "aiormq",
    "minio",
    "httpx",
    "urllib3",
}


def imported_modules(path: Path, source: str | None = None) -> set[str]:
    """Every module a file imports, absolute, with relative imports resolved against its package."""
    package = path.relative_to(REPO).with_suffix("").parts[:-1]
    found: set[str] = set()
    source = path.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join((*base, node.module) if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def python_files(*parts: str) -> list[Path]:
    return sorted((REPO.joinpath(*parts)).rglob("*.py"))


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another(service):
    others = {f"services.{s}" for s in SERVICES if s != service}
    breaches = {
        f"{path.relative_to(REPO)} imports {module}"
        for path in python_files("services", service)
        for module in imported_modules(path)
        if any(module == other or module.startswith(other + ".") for other in others)
    }
    assert not breaches


def test_shared_imports_no_service():
    breaches = {
        f"{path.relative_to(REPO)} imports {module}"
        for path in python_files("shared")
        for module in imported_modules(path)
        if module == "services" or module.startswith("services.")
    }
    assert not breaches


def test_the_contract_imports_no_platform_service_or_io():
    breaches = {
        f"{path.relative_to(REPO)} imports {module}"
        for path in python_files("shared", "contract")
        for module in imported_modules(path)
        if module.startswith(("shared.platform", "services")) or module.split(".")[0] in IO_LIBRARIES
    }
    assert not breaches


@pytest.mark.parametrize("part", ["services", "shared", "ops"])
def test_production_code_imports_no_dev_tooling(part):
    breaches = {
        f"{path.relative_to(REPO)} imports {module}"
        for path in python_files(part)
        for module in imported_modules(path)
        if module.split(".")[0] in ("devstack", "bench", "tests")
    }
    assert not breaches


@pytest.mark.parametrize("domain", sorted(REPO.glob("services/*/domain.py")), ids=lambda p: p.parent.name)
def test_domain_modules_are_pure(domain):
    breaches = {m for m in imported_modules(domain) if m.split(".")[0] in IO_LIBRARIES}
    assert not breaches, f"{domain.relative_to(REPO)} imports I/O libraries: {sorted(breaches)}"


def test_the_reader_sees_a_breach():
    """The reader itself works: a relative import across services is seen for what it is."""
    probe = REPO / "services" / "attendance" / "probe.py"  # never written: only its place matters
    modules = imported_modules(probe, "from ..certificates import domain\nimport pymongo.errors\n")
    assert "services.certificates.domain" in modules and "pymongo.errors" in modules
