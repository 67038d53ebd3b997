# Sourced by tools/demo.sh and tools/test.sh: installs the Debian packages
# dynthrift needs, only those missing, so a second run does nothing.

# To build the library, the CLI and the demo.
# The optional features (meson features, on when found): OpenSSL for TLS,
# zlib for TZlibTransport and THeader's zlib transform; the Python and Lua
# bindings build against their hosts' development packages; ZooKeeper's C
# client for ServerSet discovery (zk:// clusters, serve --announce).
BUILD_PACKAGES="gcc libc6-dev meson ninja-build pkg-config python3 libev-dev libjansson-dev
  libssl-dev zlib1g-dev python3-dev liblua5.4-dev lua5.4 libluajit-5.1-dev luajit libzookeeper-mt-dev"
# To run every test: the real Thrift peers we prove interop against, the C++
# toolchain for Apache's generated code, sanitizer and leak tooling, fuzzing;
# a ZooKeeper server and kazoo (an independent client) for the discovery tests.
TEST_PACKAGES="thrift-compiler python3-thrift python3-thriftpy libthrift-dev
  libthrift-c-glib-dev libboost-dev libevent-dev g++ binutils valgrind clang
  libclang-rt-14-dev openssl python3-pytest man-db zsh zookeeper python3-kazoo
  python3-tornado chromium curl"
# npm (puppeteer-core for the web UI's browser test) comes with Debian's
# nodejs, or bundled with a nodejs installed otherwise, which conflicts with
# Debian's npm package: ask for the packages only when the command is missing.
command -v npm >/dev/null 2>&1 || TEST_PACKAGES="$TEST_PACKAGES nodejs npm"

ensure_packages() {
    local missing=()
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; return 1; }
        sudo="sudo"
    fi
    echo "installing: ${missing[*]}" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# meson_build DIR [meson setup options...]: configure once, then build.
meson_build() {
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >&2 || return 1
    else
        # Re-read the build files so sources added since the last set-up count.
        meson setup --reconfigure "$dir" "$@" >/dev/null || return 1
    fi
    ninja -C "$dir" >&2
}
