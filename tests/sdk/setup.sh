#!/usr/bin/env bash
# Installs the official Stripe SDKs that the SDK suites run against the fake:
# stripe-python in a venv at target/sdk/venv, and stripe-node in
# tests/sdk/node/node_modules. Each step is skipped when its stamp matches the
# pinned file it was installed from, so a second run returns at once.
#
# Needs python3 (with the venv module) and npm on PATH. Concurrent runs wait
# for each other through a lock file.
set -euo pipefail

sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$sdk_dir/../.." && pwd)"
state_dir="$root/target/sdk"
venv="$state_dir/venv"
requirements="$sdk_dir/python/requirements.txt"
node_dir="$sdk_dir/node"

mkdir -p "$state_dir"
exec 9>"$state_dir/setup.lock"
flock 9

fingerprint() {
    sha256sum "$@" | sha256sum | cut -d' ' -f1
}

python_stamp="$venv/.installed-from"
python_want="$(fingerprint "$requirements")"
if [[ -x "$venv/bin/python" && -f "$python_stamp" && "$(cat "$python_stamp")" == "$python_want" ]]; then
    echo "setup.sh: the Python venv is up to date ($venv)"
else
    echo "setup.sh: creating the Python venv at $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements"
    echo "$python_want" >"$python_stamp"
fi

node_stamp="$node_dir/node_modules/.installed-from"
node_want="$(fingerprint "$node_dir/package.json" "$node_dir/package-lock.json")"
if [[ -f "$node_stamp" && "$(cat "$node_stamp")" == "$node_want" ]]; then
    echo "setup.sh: node_modules is up to date ($node_dir/node_modules)"
else
    echo "setup.sh: installing stripe-node with npm ci in $node_dir"
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$node_want" >"$node_stamp"
fi
