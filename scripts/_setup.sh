# Shared setup for scripts/test and scripts/demo. Source it from the repo root:
#
#   source scripts/_setup.sh
#   ensure_venv             # .venv with furrow installed (editable, with [dev])
#   ensure_test_servers     # Debian packages: mosquitto, influxdb, postgresql (+ PostGIS), nodejs, npm, mbpoll
#   ensure_micropython      # npm install in tests/micropython
#   ensure_micropython_unix # the MicroPython unix port, built once (tests/micropython_unix.py)
#   ensure_dashboard        # npm install in cloud/dashboard (uPlot, Leaflet, Swagger UI)
#
# Every function prints a "==> ..." line before anything slow and exits with a
# message saying what to do when it cannot go on.

FURROW_VENV=".venv"
FURROW_MIN_PYTHON="3.11"

step() {
    echo "==> $*"
}

die() {
    echo "error: $*" >&2
    exit 1
}

# Run a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $*  (not root, and sudo is not installed)"
    fi
}

have() {
    command -v "$1" >/dev/null 2>&1
}

# The Debian packages the test suite starts real servers from. Any system-wide
# services their postinst starts are left alone: the fixtures run their own
# servers on free ports.
ensure_test_servers() {
    local missing=()
    # mosquitto lives in /usr/sbin, which is not on every user's PATH.
    have mosquitto || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
    have influxd || missing+=(influxdb)
    have pg_ctl || compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
    # PostGIS for the cloud's spatial checks on PostgreSQL (cloud/fields/spatial.py): the package
    # follows the server's major version (postgresql-15-postgis-3 on Debian 12)
    if ! compgen -G "/usr/share/postgresql/*/extension/postgis.control" >/dev/null; then
        local pg_major
        pg_major="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -n | tail -1)"
        missing+=("postgresql-${pg_major:-15}-postgis-3")
    fi
    have node || missing+=(nodejs)
    have npm || missing+=(npm)
    have mbpoll || missing+=(mbpoll)  # a Modbus master no one here wrote (tests/test_hil_bench.py)
    have openssl || missing+=(openssl)  # the test certificate authority (tests/test_gateway_tls.py)
    have nginx || [ -x /usr/sbin/nginx ] || missing+=(nginx)  # the load balancer (tests/test_cloud_cluster_nginx.py)
    have zbarimg || missing+=(zbar-tools)  # decodes the lot report's QR code back (tests/test_trace_publish.py)
    have chromium || missing+=(chromium)  # the dashboard's browser tests (tests/test_dashboard.py, Playwright)
    # a font with Chinese glyphs: the zh-CN dashboard's screenshots and glyph checks (tests/test_dashboard_i18n.py)
    [ -n "$(fc-list :lang=zh-cn family 2>/dev/null)" ] || missing+=(fonts-wqy-zenhei)
    have make && have gcc || missing+=(build-essential)  # the MicroPython unix port (ensure_micropython_unix)
    compgen -G "/usr/lib/gcc/*/*/32/crtbegin.o" >/dev/null || missing+=(gcc-multilib)  # built 32-bit, like a board
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if ! have apt-get; then
        echo "The tests need these Debian packages, and apt-get is not available here:" >&2
        echo "    ${missing[*]}" >&2
        echo "Install them with your package manager (commands needed: mosquitto, influxd, postgres," >&2
        echo "node, npm, mbpoll, openssl, nginx, zbarimg, chromium, a font with Chinese glyphs), then run this again." >&2
        exit 1
    fi
    step "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# A Python >= FURROW_MIN_PYTHON to create the venv with ($PYTHON wins).
_find_python() {
    local candidate candidates=(python3 python3.13 python3.12 python3.11)
    [ -n "${PYTHON:-}" ] && candidates=("$PYTHON")
    for candidate in "${candidates[@]}"; do
        have "$candidate" || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# .venv with `pip install -e '.[dev]'`. Reinstalls only when pyproject.toml
# changed since the last install (a checksum kept inside .venv).
ensure_venv() {
    local stamp="$FURROW_VENV/.furrow-pyproject.sha256"
    if [ ! -x "$FURROW_VENV/bin/python" ]; then
        local python
        if ! python="$(_find_python)"; then
            local found="none"
            have python3 && found="$(python3 -c 'import sys; print(sys.version.split()[0])')"
            die "furrow needs Python >= $FURROW_MIN_PYTHON (python3 here: $found).
Install a newer Python (on Debian 12: apt-get install python3 python3-venv),
or point PYTHON at one: PYTHON=/path/to/python3.11 $0"
        fi
        step "creating $FURROW_VENV with $python ($("$python" -c 'import sys; print(sys.version.split()[0])'))"
        "$python" -m venv "$FURROW_VENV" \
            || die "could not create $FURROW_VENV; on Debian install python3-venv (apt-get install python3-venv)"
        rm -f "$stamp"
    fi
    "$FURROW_VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$FURROW_VENV uses a Python older than $FURROW_MIN_PYTHON; delete $FURROW_VENV and run this again"

    local wanted
    wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
        step "installing Python dependencies (pip install -e '.[dev]')"
        # Build-backend warnings are noise on success; the log is shown on failure.
        local log="$FURROW_VENV/pip-install.log"
        if ! "$FURROW_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            -e '.[dev]' >"$log" 2>&1; then
            cat "$log" >&2
            die "pip install -e '.[dev]' failed (log above, also in $log)"
        fi
        echo "$wanted" >"$stamp"
    fi
}

# The real MicroPython (WebAssembly port) for the firmware tests.
ensure_micropython() {
    local dir="tests/micropython"
    if [ ! -d "$dir/node_modules/@micropython/micropython-webassembly-pyscript" ]; then
        have npm || die "npm is missing; install the Debian packages nodejs and npm"
        step "installing MicroPython (npm install in $dir)"
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
    fi
}

# The MicroPython unix port for the firmware's heap and network tests: built once (a few minutes)
# from the release source in shared/third_party/ beside the clone and cached in ~/.cache/furrow;
# tests/micropython_unix.py says what to do when the source is missing.
ensure_micropython_unix() {
    "$FURROW_VENV/bin/python" tests/micropython_unix.py >/dev/null || exit 1
}

# The browser libraries the cloud service serves from cloud/dashboard/node_modules (pinned in
# cloud/dashboard/package.json): uPlot, the dashboard's charts, Leaflet, the machinery map, and Swagger
# UI, the API docs at /docs; without them the charts, the map and /docs are missing. No install scripts run (Swagger UI's
# analytics dependency would phone home). `ensure_dashboard optional` (the demo) goes on without npm.
ensure_dashboard() {
    local dir="cloud/dashboard"
    if [ ! -f "$dir/node_modules/uplot/dist/uPlot.iife.min.js" ] \
        || [ ! -f "$dir/node_modules/leaflet/dist/leaflet.js" ] \
        || [ ! -f "$dir/node_modules/swagger-ui-dist/swagger-ui-bundle.js" ]; then
        if ! have npm; then
            [ "${1:-}" = "optional" ] || die "npm is missing; install the Debian packages nodejs and npm"
            echo "note: npm is missing, so the dashboard will run without charts and /docs without Swagger UI" \
                 "(install nodejs and npm)" >&2
            return 0
        fi
        step "installing the dashboard's chart library and Swagger UI (npm ci in $dir)"
        (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    fi
}
