#!/usr/bin/env bash
# Runs the shop's pytest suite in its own venv at target/shop-python/venv-dev
# (relative to the repository root), created or updated from
# requirements-dev.txt when that or requirements.txt changed. Arguments go to
# pytest, for example `bash test.sh -k webhook`.
#
# The end-to-end test runs only when FAKESTRIPE_BASE names a running fake,
# see README.md.
set -euo pipefail

shop_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$shop_dir/../.." && pwd)"
venv="$root/target/shop-python/venv-dev"

# shellcheck source=venv.sh
source "$shop_dir/venv.sh"
ensure_venv "$venv" "$shop_dir/requirements-dev.txt" "$shop_dir/requirements.txt"

cd "$shop_dir"
exec "$venv/bin/python" -m pytest "$@"
