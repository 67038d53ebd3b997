#!/usr/bin/env bash
# TAP: the README's example server and client talk to each other.
set -u
server=$1 client=$2 idl=$3
out=$(mktemp) ; trap 'kill $pid 2>/dev/null; rm -f "$out"' EXIT
"$server" "$idl" 127.0.0.1:0 > "$out" &
pid=$!
for _ in $(seq 50); do grep -q "listening on port" "$out" && break; sleep 0.1; done
port=$(sed -n 's/listening on port //p' "$out")
got=$(timeout 10 "$client" "$idl" "127.0.0.1:$port")
rc=$?
want=$'ping -> pong\nadd(2, 40) -> 42\nadd [1, 1] -> 2'
if [ $rc -eq 0 ] && [ "$got" = "$want" ]; then
    echo "ok 1 - example client and server: ping, add by value tree, add by JSON"
else
    echo "not ok 1 - example client and server (rc=$rc)"
    printf '%s\n' "$got" | sed 's/^/# /'
fi
# The quickstart's shutdown: SIGTERM stops the server cleanly.
kill -TERM $pid
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
wait $pid
rc_stop=$?
if [ $rc_stop -eq 0 ] && grep -q '^stopped$' "$out"; then
    echo "ok 2 - SIGTERM: the example server stops (thrift_rpc_server_stop) and exits 0"
else
    echo "not ok 2 - SIGTERM: example server exit $rc_stop"
    sed 's/^/# /' "$out"
fi
"$client" > /dev/null 2>&1
rc_client=$?
"$server" > /dev/null 2>&1
rc_server=$?
if [ $rc_client -eq 2 ] && [ $rc_server -eq 2 ]; then
    echo "ok 3 - without arguments both print usage and exit 2"
else
    echo "not ok 3 - without arguments: client exit $rc_client, server exit $rc_server (want 2)"
fi
echo "1..3"
