# Sourced by scripts/run and scripts/test: a project venv with the locked dependencies.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV_VERSION=0.13.8
if [ ! -x .tools/bin/uv ] || ! .tools/bin/uv --version | grep -q "$UV_VERSION"; then
  echo "• installing uv $UV_VERSION into .tools/" >&2
  python3 -m venv .tools
  .tools/bin/pip install --quiet "uv==$UV_VERSION"
fi
export UV_PYTHON_DOWNLOADS=never
.tools/bin/uv sync --frozen --python python3 --quiet
