#!/usr/bin/env bash
# Starts the shop: creates or updates the venv at target/shop-python/venv
# (relative to the repository root) when requirements.txt changed, then
# replaces this shell with the app, so signals reach Python directly.
# Arguments go to app.py, for example `bash run.sh --list-bugs`.
#
# Needs python3 >= 3.10 with the venv module. The first run downloads the
# pinned packages from PyPI.
set -euo pipefail

shop_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$shop_dir/../.." && pwd)"
venv="$root/target/shop-python/venv"

# shellcheck source=venv.sh
source "$shop_dir/venv.sh"
ensure_venv "$venv" "$shop_dir/requirements.txt"

exec "$venv/bin/python" "$shop_dir/app.py" "$@"
