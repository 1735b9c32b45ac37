# Sourced by run.sh and test.sh. Defines ensure_venv.

# ensure_venv VENV REQUIREMENTS [HASHED_FILE...]
#
# Creates the venv at VENV and installs the requirements file REQUIREMENTS
# into it. The install is skipped when a stamp file in the venv contains the
# SHA-256 of the python3 version, REQUIREMENTS and every HASHED_FILE, so list
# the files that REQUIREMENTS includes with -r as HASHED_FILE. Concurrent
# calls for the same venv wait for each other through a lock file beside it.
# Progress goes to stderr.
ensure_venv() {
    local venv="$1"
    local requirements="$2"
    local stamp="$venv/.installed-from"
    local want lock_fd
    want="$({ python3 --version; cat "${@:2}"; } | sha256sum | cut -d' ' -f1)"

    mkdir -p "$(dirname "$venv")"
    exec {lock_fd}>"$venv.lock"
    flock "$lock_fd"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        exec {lock_fd}>&-
        return 0
    fi

    echo "shop-python: creating the venv at $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        -r "$requirements" >&2
    echo "$want" >"$stamp"
    exec {lock_fd}>&-
}
