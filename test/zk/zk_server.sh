#!/bin/bash
# Starts a standalone ZooKeeper (Debian's `zookeeper` package) for a test:
#   zk_server.sh DIR [PORT]
# writes DIR/zoo.cfg (loopback only, data in DIR/data, tickTime 200 ms so a
# session can time out in under a second), starts the JVM in the background
# and waits until it answers.  Prints "PORT PID" on success; the caller stops
# the server by that PID.  Exit 77 when zookeeper or java is missing (the TAP
# "skip" code), 1 when it does not come up within 30 s.  Called again with
# the same DIR and PORT it restarts the server on the same data.  Set
# ZK_OWNER_PID to have the JVM stopped if that process dies first.
set -u
dir=$1
port=${2:-}
jar=/usr/share/java/zookeeper.jar
command -v java >/dev/null 2>&1 || exit 77
[ -f "$jar" ] || exit 77
mkdir -p "$dir/data" || exit 1
if [ -z "$port" ]; then
    port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') || exit 1
fi
cat >"$dir/zoo.cfg" <<CFG
tickTime=200
minSessionTimeout=400
maxSessionTimeout=20000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
CFG
cat >"$dir/log4j.properties" <<CFG
log4j.rootLogger=WARN, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=$dir/zookeeper.log
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=%d %p %c{1}: %m%n
CFG
# A small heap and a quick JIT keep the start-up near a second.
java -Xmx128m -Xms32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j.configuration="file:$dir/log4j.properties" \
    -Dzookeeper.log.dir="$dir" \
    -cp "$jar" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
    >"$dir/stdout.log" 2>&1 </dev/null &
pid=$!
# With ZK_OWNER_PID (the test's own PID), a watcher stops the JVM when the
# test dies without cleaning up (an abort, a sanitizer's halt), and ends with
# the JVM otherwise.
if [ -n "${ZK_OWNER_PID:-}" ]; then
    ( while kill -0 "$ZK_OWNER_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      kill "$pid" 2>/dev/null ) >/dev/null 2>&1 </dev/null &
fi
for _ in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
        cat "$dir/stdout.log" >&2
        exit 1
    fi
    if [ "$(/usr/bin/python3 - "$port" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"ruok")
print(s.recv(16).decode())
PY
)" = imok ]; then
        echo "$port $pid"
        exit 0
    fi
    sleep 0.1
done
kill "$pid"
exit 1
