# shellcheck shell=bash
# Shared by scripts/run and scripts/test; sourced, never executed.
# Expects the caller to have cd'ed to the project root and set -euo pipefail.

VENV=.venv
PY="$VENV/bin/python"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

find_python() {
    local candidate
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    [ -x "$PY" ] && return 0
    local python
    python=$(find_python) || die "Python 3.11 or newer is needed (python3.11 not found)."
    log "Creating $VENV with $python"
    if ! "$python" -m venv "$VENV"; then
        # Debian ships venv's ensurepip separately.
        rm -rf "$VENV"
        apt_install python3-venv
        "$python" -m venv "$VENV"
    fi
    "$PY" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || log "WARNING: could not upgrade pip; continuing with the bundled one."
}

# Install a requirements file, skipped when neither it nor what it includes changed.
install_requirements() {
    local file=$1 stamp digest
    stamp="$VENV/.installed-$(basename "$file").sha256"
    digest=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
        return 0
    fi
    log "Installing $file into $VENV"
    local output
    if ! output=$("$PY" -m pip install --quiet --disable-pip-version-check -r "$file" 2>&1); then
        printf '%s\n' "$output" >&2
        die "pip could not install $file (output above)."
    fi
    "$PY" -m pip check >/dev/null || log "WARNING: '$PY -m pip check' reports conflicting packages."
    echo "$digest" >"$stamp"
}

# `DATABASE_URL=` (empty) means the default SQLite file; settings need it unset.
normalize_database_url() {
    if [ -z "${DATABASE_URL:-}" ]; then unset DATABASE_URL; fi
}

# Succeed when something accepts TCP connections on host:port within the timeout.
port_open() {
    local host=$1 port=$2
    timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

wait_for_port() {
    local host=$1 port=$2 seconds=$3 deadline
    deadline=$((SECONDS + seconds))
    until port_open "$host" "$port"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 1
    done
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand."
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    log "Installing Debian packages: $*"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# The shell linter, for scripts/ (.ci/run, and scripts/test before a full run).
ensure_shellcheck() {
    command -v shellcheck >/dev/null 2>&1 || apt_install shellcheck
}
