#!/bin/sh
# Install, upgrade or remove shopkeep on a Linux server.
#
#   curl -fsSL https://SHOP-RELEASES/install.sh | sh -s -- --url https://…/shopkeep-x86_64-linux
#   ./install.sh                     # from a checkout: builds with cargo
#   ./install.sh --uninstall [--purge]
#
# Every step says what it does and can be run again: a second run upgrades
# the binary in place, keeps the data and the configuration, restarts the
# service and goes back to the previous binary if the new one does not
# become ready. `--root DIR` installs into DIR as if it were / (for tests and
# images): no system user, no systemctl; the shop is started directly from
# the tree so its readiness can still be checked. Run with --help for all
# options.

set -eu

PROGRAM=shopkeep
ROOT=
PREFIX=/usr/local
BINARY=
URL=
SHA256=
SOURCE=
INSTALL_RUST=no
TIER=auto
PORT=8080
MODEL=
START=yes
UNINSTALL=no
PURGE=no
READY_TIMEOUT=120

say() { printf '%s\n' "shopkeep install: $*"; }
fail() {
    printf '%s\n' "shopkeep install: error: $*" >&2
    exit 1
}

usage() {
    cat <<'USAGE'
Usage: install.sh [options]

Where the binary comes from (first that applies):
  --binary FILE      install this binary
  --url URL          download a prebuilt binary (check it with --sha256 HEX)
  --source DIR       build from a checkout with cargo (default: this script's
                     checkout, when it is run from one)
  --install-rust     allow installing the Rust toolchain with rustup when
                     cargo is missing (nothing is installed without it)

What is installed:
  --tier TIER        auto, free, starter, professional or enterprise (auto)
  --port N           HTTP port the shop listens on (8080)
  --model ID         also fetch this local model (see `shopkeep models list`);
                     starter and professional fetch their default model
  --prefix DIR       where bin/shopkeep goes (/usr/local)
  --root DIR         install into DIR as if it were / (tests, images)
  --no-start         install files only; do not start or wait for the shop
  --ready-timeout S  seconds to wait for /readyz (120)

Removing:
  --uninstall        stop and remove the service and the binary; keep data
  --purge            with --uninstall: also remove data, configuration and
                     the shopkeep user
USAGE
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
        --binary) BINARY=${2:?--binary needs a file}; shift ;;
        --url) URL=${2:?--url needs an address}; shift ;;
        --sha256) SHA256=${2:?--sha256 needs a hex digest}; shift ;;
        --source) SOURCE=${2:?--source needs a directory}; shift ;;
        --install-rust) INSTALL_RUST=yes ;;
        --tier) TIER=${2:?--tier needs a name}; shift ;;
        --port) PORT=${2:?--port needs a number}; shift ;;
        --model) MODEL=${2:?--model needs an id}; shift ;;
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
        --root) ROOT=${2:?--root needs a directory}; shift ;;
        --no-start) START=no ;;
        --ready-timeout) READY_TIMEOUT=${2:?--ready-timeout needs seconds}; shift ;;
        --uninstall) UNINSTALL=yes ;;
        --purge) PURGE=yes ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; fail "unknown option $1" ;;
        esac
        shift
    done
    case "$TIER" in
    auto | free | starter | professional | enterprise) ;;
    *) fail "--tier must be auto, free, starter, professional or enterprise, not $TIER" ;;
    esac
    case "$PORT" in
    '' | *[!0-9]*) fail "--port must be a number, not $PORT" ;;
    esac
    case "$READY_TIMEOUT" in
    '' | *[!0-9]*) fail "--ready-timeout must be a number of seconds" ;;
    esac
    if [ "$PURGE" = yes ] && [ "$UNINSTALL" = no ]; then
        fail "--purge only goes with --uninstall"
    fi
    if [ -n "$ROOT" ]; then
        mkdir -p "$ROOT"
        ROOT=$(cd "$ROOT" && pwd)
    fi
}

# Paths as the installed system sees them ($ROOT is only where they live now).
set_paths() {
    BIN_PATH=$PREFIX/bin/$PROGRAM
    CONFIG_DIR=/etc/shopkeep
    CONFIG=$CONFIG_DIR/config.toml
    SECRET_KEY=$CONFIG_DIR/secret.key
    DATA_DIR=/var/lib/shopkeep
    UNIT_DIR=/etc/systemd/system
    UNIT=$UNIT_DIR/shopkeep.service
    DROPIN_DIR=$UNIT_DIR/shopkeep.service.d
    PID_FILE=$DATA_DIR/shopkeep.pid
}

# A path inside the tree being installed to.
in_root() { printf '%s%s' "$ROOT" "$1"; }

check_platform() {
    os=$(uname -s)
    arch=$(uname -m)
    [ "$os" = Linux ] || fail "shopkeep installs on Linux; this is $os"
    case "$arch" in
    x86_64 | amd64 | aarch64 | arm64) ;;
    *) fail "no build of shopkeep for $arch; x86_64 and aarch64 are supported" ;;
    esac
    if [ -r /etc/os-release ]; then
        # shellcheck disable=SC1091
        distro=$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-$ID}")
    else
        distro=unknown
    fi
    say "platform: $os $arch ($distro)"
}

check_privileges() {
    if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
        fail "installing a system service needs root: run with sudo, or use --root DIR"
    fi
}

fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$1"
    else
        fail "neither curl nor wget is installed to download $1"
    fi
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

# The directory of this script when it sits in a checkout (a Cargo.toml
# naming shopkeep beside it); empty when piped from the network.
checkout_dir() {
    case "$0" in
    */install.sh | install.sh) dir=$(cd "$(dirname "$0")" && pwd) ;;
    *) return 0 ;;
    esac
    if [ -f "$dir/Cargo.toml" ] && grep -q '^name = "shopkeep"' "$dir/Cargo.toml"; then
        printf '%s' "$dir"
    fi
}

ensure_cargo() {
    if command -v cargo >/dev/null 2>&1; then return 0; fi
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        PATH=$HOME/.cargo/bin:$PATH
        return 0
    fi
    if [ "$INSTALL_RUST" != yes ]; then
        fail "cargo is needed to build shopkeep from source; install Rust, or rerun with --install-rust to let this script install it with rustup"
    fi
    say "installing the Rust toolchain with rustup (--install-rust)"
    rustup_init=$WORK/rustup-init.sh
    fetch https://sh.rustup.rs "$rustup_init"
    sh "$rustup_init" -y --profile minimal
    PATH=$HOME/.cargo/bin:$PATH
}

# Puts the new binary at $WORK/shopkeep.
obtain_binary() {
    if [ -n "$BINARY" ]; then
        [ -f "$BINARY" ] || fail "--binary $BINARY: no such file"
        say "using the binary $BINARY"
        cp "$BINARY" "$WORK/$PROGRAM"
    elif [ -n "$URL" ]; then
        say "downloading $URL"
        fetch "$URL" "$WORK/$PROGRAM"
        if [ -n "$SHA256" ]; then
            actual=$(sha256_of "$WORK/$PROGRAM")
            [ "$actual" = "$SHA256" ] || fail "the download's sha256 is $actual, not $SHA256"
            say "sha256 checked"
        fi
    else
        [ -n "$SOURCE" ] || SOURCE=$(checkout_dir)
        [ -n "$SOURCE" ] || fail "no binary to install: give --url, --binary or --source (or run this script from a checkout)"
        ensure_cargo
        say "building from $SOURCE with cargo (release; this takes a few minutes)"
        (cd "$SOURCE" && cargo build --release --locked)
        target=${CARGO_TARGET_DIR:-$SOURCE/target}
        cp "$target/release/$PROGRAM" "$WORK/$PROGRAM"
    fi
    chmod 0755 "$WORK/$PROGRAM"
    version=$("$WORK/$PROGRAM" --version) || fail "the new binary does not run on this machine"
    say "new binary: $version"
}

create_user() {
    if [ -n "$ROOT" ]; then
        say "not creating the shopkeep user (--root): files stay owned by $(id -un)"
        return 0
    fi
    if id shopkeep >/dev/null 2>&1; then
        say "user shopkeep exists"
        return 0
    fi
    nologin=$(command -v nologin || printf /usr/sbin/nologin)
    if command -v useradd >/dev/null 2>&1; then
        useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home --shell "$nologin" shopkeep
    else
        adduser -S -D -H -h "$DATA_DIR" -s "$nologin" shopkeep
    fi
    say "created the system user shopkeep"
}

# Changes the owner to the shopkeep user (not in --root installs).
own() {
    [ -n "$ROOT" ] || chown "$@"
}

make_dirs() {
    mkdir -p "$(in_root "$PREFIX/bin")" "$(in_root "$UNIT_DIR")"
    mkdir -p "$(in_root "$CONFIG_DIR")" "$(in_root "$DATA_DIR")"
    chmod 0750 "$(in_root "$CONFIG_DIR")" "$(in_root "$DATA_DIR")"
    own -R shopkeep:shopkeep "$(in_root "$DATA_DIR")"
    own root:shopkeep "$(in_root "$CONFIG_DIR")"
}

random_hex() {
    od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

# The data directory as the server must be told: in a --root install the
# server runs from the tree, so its paths point into the tree.
served_path() {
    if [ -n "$ROOT" ]; then in_root "$1"; else printf '%s' "$1"; fi
}

write_config() {
    config=$(in_root "$CONFIG")
    if [ -f "$config" ]; then
        say "keeping the configuration $CONFIG"
        return 0
    fi
    cat >"$config" <<EOF
# shopkeep configuration, written by install.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ).
# Every value and where it comes from: shopkeep config check
bind = "0.0.0.0:$PORT"
data_dir = "$(served_path "$DATA_DIR")"
tier = "$TIER"
log_format = "json"
EOF
    chmod 0600 "$config"
    own shopkeep:shopkeep "$config"
    say "wrote $CONFIG (tier $TIER, port $PORT)"
}

# The key that seals the API keys saved from the dashboard lives here, away
# from the database and its backups.
write_secret_key() {
    key=$(in_root "$SECRET_KEY")
    if [ -f "$key" ]; then
        say "keeping the secret key $SECRET_KEY"
        return 0
    fi
    (umask 077 && dd if=/dev/urandom of="$key" bs=32 count=1 2>/dev/null)
    own shopkeep:shopkeep "$key"
    say "generated $SECRET_KEY (keep a copy apart from the backups: saved API keys need it)"
}

# systemd's memory ceiling for a tier: room for its model and the KV cache.
memory_max() {
    case "$1" in
    free | enterprise) printf 1G ;;
    starter) printf 2G ;;
    professional) printf 12G ;;
    *) printf 4G ;;
    esac
}

unit_source() {
    dir=$(checkout_dir)
    if [ -n "$dir" ] && [ -f "$dir/systemd/shopkeep.service" ]; then
        printf '%s' "$dir/systemd/shopkeep.service"
    fi
}

# The new binary must accept the configuration before it replaces anything.
check_config() {
    SHOPKEEP_CONFIG=$(in_root "$CONFIG") "$WORK/$PROGRAM" config check >/dev/null ||
        fail "the new binary refuses the configuration $CONFIG: see SHOPKEEP_CONFIG=$CONFIG $WORK/$PROGRAM config check"
    say "the configuration checks out"
}

write_unit() {
    source_unit=$(unit_source)
    [ -n "$source_unit" ] || source_unit=$WORK/shopkeep.service
    if [ ! -f "$source_unit" ]; then
        "$WORK/$PROGRAM" config systemd-unit >"$source_unit" || fail "the new binary cannot print its systemd unit"
    fi
    sed -e "s|^ExecStart=/usr/local/bin/shopkeep|ExecStart=$BIN_PATH|" \
        -e "s|^MemoryMax=.*|MemoryMax=$(memory_max "$TIER")|" \
        "$source_unit" >"$(in_root "$UNIT")"
    chmod 0644 "$(in_root "$UNIT")"
    say "installed the unit $UNIT (MemoryMax $(memory_max "$TIER"))"
    if [ "$TIER" = professional ] && [ -f "$(dirname "$source_unit")/gpu.conf" ]; then
        mkdir -p "$(in_root "$DROPIN_DIR")"
        cp "$(dirname "$source_unit")/gpu.conf" "$(in_root "$DROPIN_DIR/gpu.conf")"
        say "installed the GPU drop-in $DROPIN_DIR/gpu.conf"
    fi
}

# Moves the new binary into place; the one it replaces is kept beside it
# as shopkeep.previous for the rollback.
install_binary() {
    target=$(in_root "$BIN_PATH")
    if [ -f "$target" ]; then
        cp -p "$target" "$target.previous"
        UPGRADE=yes
        say "upgrading: the current binary is kept as $BIN_PATH.previous"
    fi
    cp "$WORK/$PROGRAM" "$target.new"
    chmod 0755 "$target.new"
    mv -f "$target.new" "$target"
    say "installed $BIN_PATH"
}

has_systemd() {
    [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

# --root installs have no service manager: the shop runs straight from the
# tree, with its pid in the data directory.
start_from_tree() {
    SHOPKEEP_CONFIG=$(in_root "$CONFIG") SHOPKEEP_SECRET_KEY_FILE=$(in_root "$SECRET_KEY") \
        nohup "$(in_root "$BIN_PATH")" serve \
        >>"$(in_root "$DATA_DIR")/shopkeep.log" 2>&1 &
    printf '%s\n' $! >"$(in_root "$PID_FILE")"
}

stop_from_tree() {
    pid_file=$(in_root "$PID_FILE")
    [ -f "$pid_file" ] || return 0
    pid=$(cat "$pid_file")
    if kill "$pid" 2>/dev/null; then
        waited=0
        while kill -0 "$pid" 2>/dev/null && [ $waited -lt 50 ]; do
            sleep 0.2
            waited=$((waited + 1))
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
}

restart_service() {
    if has_systemd; then
        systemctl daemon-reload
        systemctl enable shopkeep.service >/dev/null
        systemctl restart shopkeep.service
        say "service enabled (starts on boot) and (re)started"
    elif [ -n "$ROOT" ]; then
        stop_from_tree
        start_from_tree
        say "started the shop from the tree (no systemd with --root)"
    else
        fail "systemd is not running here; start the shop with: SHOPKEEP_CONFIG=$CONFIG $BIN_PATH serve"
    fi
}

http_status() {
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true
    else
        wget -q -O /dev/null "$1" 2>/dev/null && printf 200
    fi
}

wait_until_ready() {
    url=http://127.0.0.1:$PORT/readyz
    say "waiting up to ${READY_TIMEOUT}s for $url"
    waited=0
    while [ $waited -lt "$READY_TIMEOUT" ]; do
        if [ "$(http_status "$url")" = 200 ]; then
            say "the shop is ready"
            return 0
        fi
        sleep 1
        waited=$((waited + 1))
    done
    return 1
}

roll_back() {
    target=$(in_root "$BIN_PATH")
    [ -f "$target.previous" ] || fail "the new binary did not become ready and there is no previous one to go back to"
    say "the new binary did not become ready: going back to the previous one"
    mv -f "$target.previous" "$target"
    restart_service
    wait_until_ready || fail "the previous binary did not become ready either; see the log ($(log_hint))"
    fail "upgrade rolled back: the previous binary is running again; see the log ($(log_hint)) for why the new one failed"
}

log_hint() {
    if has_systemd; then printf 'journalctl -u shopkeep'; else printf '%s' "$(in_root "$DATA_DIR")/shopkeep.log"; fi
}

# Runs a shopkeep command as the service would (its user, its config).
as_shop() {
    if [ -n "$ROOT" ]; then
        SHOPKEEP_CONFIG=$(in_root "$CONFIG") SHOPKEEP_SECRET_KEY_FILE=$(in_root "$SECRET_KEY") \
            "$(in_root "$BIN_PATH")" "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u shopkeep -- env SHOPKEEP_CONFIG="$CONFIG" SHOPKEEP_SECRET_KEY_FILE="$SECRET_KEY" "$BIN_PATH" "$@"
    else
        su -s /bin/sh shopkeep -c "SHOPKEEP_CONFIG=$CONFIG SHOPKEEP_SECRET_KEY_FILE=$SECRET_KEY $BIN_PATH $*"
    fi
}

default_model() {
    case "$TIER" in
    starter | professional) printf 'qwen2.5-coder-0.5b-instruct' ;;
    esac
}

fetch_model() {
    [ -n "$MODEL" ] || MODEL=$(default_model)
    [ -n "$MODEL" ] || return 0
    say "fetching the model $MODEL"
    as_shop models pull "$MODEL" || fail "could not fetch the model $MODEL; rerun, or pick another with --model (shopkeep models list)"
}

# The first install gets an admin password, shown once; later runs keep it.
set_first_password() {
    marker=$(in_root "$DATA_DIR")/.admin-password-set
    if [ -f "$marker" ]; then
        PASSWORD=
        return 0
    fi
    PASSWORD=$(random_hex 12)
    password_file=$WORK/password
    printf '%s\n' "$PASSWORD" >"$password_file"
    chmod 0644 "$password_file"
    as_shop admin set-password --password-file "$password_file" >/dev/null
    : >"$marker"
    own shopkeep:shopkeep "$marker"
}

report() {
    host=$(hostname 2>/dev/null || printf localhost)
    say "done."
    printf '\n  Shop:      http://%s:%s/\n' "$host" "$PORT"
    printf '  Dashboard: http://%s:%s/admin\n' "$host" "$PORT"
    if [ -n "$PASSWORD" ]; then
        printf '  Sign in as "admin" with the one-time password: %s\n' "$PASSWORD"
        printf '  (it is not stored anywhere readable; change it with: shopkeep admin set-password)\n'
    fi
    printf '  Logs:      %s\n\n' "$(log_hint)"
}

install() {
    check_platform
    check_privileges
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT INT TERM
    UPGRADE=no
    obtain_binary
    create_user
    make_dirs
    write_config
    write_secret_key
    check_config
    write_unit
    install_binary
    fetch_model
    set_first_password
    if [ "$START" = no ]; then
        say "installed; not started (--no-start)"
        return 0
    fi
    restart_service
    if ! wait_until_ready; then
        [ "$UPGRADE" = yes ] && roll_back
        fail "the shop did not become ready in ${READY_TIMEOUT}s; see the log ($(log_hint))"
    fi
    report
}

uninstall() {
    check_privileges
    if has_systemd; then
        systemctl disable --now shopkeep.service >/dev/null 2>&1 || true
    elif [ -n "$ROOT" ]; then
        stop_from_tree
    fi
    rm -f "$(in_root "$UNIT")"
    rm -rf "$(in_root "$DROPIN_DIR")"
    has_systemd && systemctl daemon-reload
    rm -f "$(in_root "$BIN_PATH")" "$(in_root "$BIN_PATH").previous"
    say "removed the service and $BIN_PATH"
    if [ "$PURGE" = yes ]; then
        rm -rf "$(in_root "$DATA_DIR")" "$(in_root "$CONFIG_DIR")"
        if [ -z "$ROOT" ] && id shopkeep >/dev/null 2>&1; then
            userdel shopkeep 2>/dev/null || deluser shopkeep 2>/dev/null || true
        fi
        say "purged $DATA_DIR, $CONFIG_DIR and the shopkeep user"
    else
        say "kept the data in $DATA_DIR and the configuration in $CONFIG_DIR (--purge removes them)"
    fi
}

main() {
    parse_args "$@"
    set_paths
    if [ "$UNINSTALL" = yes ]; then
        uninstall
    else
        install
    fi
}

main "$@"
