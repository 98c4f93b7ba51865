#!/usr/bin/env bash
# Runs the interop suite: dirac-init's files loaded by numpy, safetensors, ml-dtypes and mygrad.
# Makes its own virtual environment from requirements.txt (reused while that file is unchanged),
# builds the release binary, and runs pytest. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-interop"
req="$root/tests/interop/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
fi
cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml"
export DIRAC_INIT="$root/target/release/dirac-init"
cd "$root/tests/interop"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
