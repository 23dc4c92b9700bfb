"""The house style checks itself: ruff's formatter and linter (pyflakes, import order) over the
tree, configured in pyproject.toml. `scripts/format` applies both."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).parent / "ruff"


@pytest.mark.parametrize("command", [["format", "--check", "--quiet"], ["check", "--quiet"]], ids=["format", "lint"])
def test_the_tree_is_formatted_and_lint_free(command):
    result = subprocess.run([str(RUFF), *command, "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"run scripts/format\n{result.stdout}{result.stderr}"
