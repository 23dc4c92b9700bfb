"""Typed ports (decision 12): every adapter method the code reaches through a service's
`Ports` is declared by the type that `Ports` gives that adapter. The issue replaced untyped dicts
with typed ports; a method called on a port but missing from its declared interface is still an
untyped reach (a type checker refuses it, and a fake written to the interface would not serve
the route that calls it). Read from the source, no server."""

import ast
import importlib
import typing
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("attendance", "certificates", "enrollment")


def _is_ports(node: ast.expr) -> bool:
    """`ports()`, `rt.ports()`, `self._rt.ports()`, or a variable named `ports`."""
    if isinstance(node, ast.Call):
        func = node.func
        return (isinstance(func, ast.Name) and func.id == "ports") or (
            isinstance(func, ast.Attribute) and func.attr == "ports"
        )
    return isinstance(node, ast.Name) and node.id == "ports"


def port_calls(service: str) -> set[tuple[str, str, str]]:
    """(file, port, method) for each `<ports>.<port>.<method>` in the service's modules."""
    found = set()
    for path in sorted((REPO / "services" / service).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and _is_ports(node.value.value)
            ):
                found.add((path.name, node.value.attr, node.attr))
    return found


def declared(ports: type, port: str) -> type:
    attribute = getattr(ports, port, None)
    hint = (
        typing.get_type_hints(attribute.fget)["return"]
        if isinstance(attribute, property)
        else typing.get_type_hints(ports)[port]
    )
    return typing.get_origin(hint) or hint


@pytest.mark.parametrize("service", SERVICES)
def test_what_the_code_calls_on_a_port_is_declared_by_its_type(service):
    ports = importlib.import_module(f"services.{service}.bootstrap").Ports
    calls = port_calls(service)
    assert calls, "the scan finds the service's port calls"
    undeclared = sorted(
        f"{file}: ports().{port}.{method} (not on {declared(ports, port).__name__})"
        for file, port, method in calls
        if not hasattr(declared(ports, port), method)
    )
    assert not undeclared, "\n".join(undeclared)
