#!/usr/bin/env bash
# The main job: build dynthrift and show it working on idl-samples/pingpong.thrift.
# Installs what it needs with apt-get when missing; safe to run again.
#
# It loads the IDL at run time, serves PingPong from a JSON fixture
# (idl-samples/pingpong.mock.json) with `dynthrift serve --mock`, calls ping
# and add with `dynthrift call`, prints the JSON answers, and stops the
# server with SIGTERM (a graceful stop).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
ensure_packages $BUILD_PACKAGES
meson_build build --buildtype=release
cli=build/tools/dynthrift
idl=idl-samples/pingpong.thrift

echo "== the schema dynthrift loaded from $idl, at run time"
"$cli" idl "$idl"

workdir=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT

echo
echo "== dynthrift serve $idl PingPong --mock idl-samples/pingpong.mock.json --addr 127.0.0.1:0"
"$cli" serve "$idl" PingPong --mock idl-samples/pingpong.mock.json \
    --addr 127.0.0.1:0 -v 2>"$workdir/serve.log" &
server_pid=$!

# The server prints "listening on HOST:PORT" once it is ready.
addr=""
for _ in $(seq 1 100); do
    addr=$(sed -n 's/^listening on //p' "$workdir/serve.log" | head -n 1)
    [ -n "$addr" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$workdir/serve.log" >&2
        echo "demo: the server did not start" >&2
        exit 1
    fi
    sleep 0.05
done
if [ -z "$addr" ]; then
    cat "$workdir/serve.log" >&2
    echo "demo: the server did not say where it listens" >&2
    exit 1
fi
echo "listening on $addr"

call() {
    echo
    echo "== dynthrift call $idl $* --addr $addr"
    "$cli" call "$idl" "$@" --addr "$addr" --timeout 5000
}
call PingPong.ping
call PingPong.add '{"a": 2, "b": 40}'
call PingPong.add '[1, 1]'

echo
echo "== stopping the server (SIGTERM: in-flight calls are answered first)"
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
echo "-- server log:"
sed 's/^/   /' "$workdir/serve.log"
if [ "$status" -ne 0 ]; then
    echo "demo: the server exited with status $status" >&2
    exit 1
fi
echo "server stopped cleanly"
