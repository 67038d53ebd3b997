#!/usr/bin/env bash
# make_seeds.sh CLI OUTDIR: writes seed inputs for every fuzz target, made at
# run time from the project's own test inputs (nothing binary is committed).
# Decoder and JSON targets take a first byte that picks the struct type:
# index 2 is bench.thrift's Payload (Address, User, Payload, BenchError).
set -euo pipefail
cli=$1 out=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
bench=$top/idl-samples/bench.thrift
mkdir -p "$out"/fuzz_idl "$out"/fuzz_json
cp -f "$top"/idl-samples/*.thrift "$out"/fuzz_idl/
i=0
for f in "$top"/test/suites/idl/*/input.thrift; do
    [ -f "$f" ] && cp -f "$f" "$out/fuzz_idl/suite$((i++)).thrift"
done
# The schema-values target reads IDL text too.
mkdir -p "$out"/fuzz_schema_values && cp -f "$out"/fuzz_idl/* "$out"/fuzz_schema_values/
payload=$top/test/fuzz/seeds/payload.json
{ printf '\002'; cat "$payload"; } > "$out/fuzz_json/payload"
printf '\001{"id": 1, "name": "n"}' > "$out/fuzz_json/user"
mkdir -p "$out"/fuzz_json_diff && cp -f "$out"/fuzz_json/* "$out"/fuzz_json_diff/
for proto in binary compact json; do
    mkdir -p "$out/fuzz_decode_$proto" "$out/fuzz_message_$proto"
    { printf '\002'; "$cli" encode "$bench" Payload --protocol $proto < "$payload"; } \
        > "$out/fuzz_decode_$proto/payload"
    { printf '\000'; "$cli" encode "$bench" Address --protocol $proto <<< '{"street": "s", "zip": 5}'; } \
        > "$out/fuzz_decode_$proto/address"
    if [ $proto != json ]; then
        # the streaming reader takes the struct bytes alone
        mkdir -p "$out/fuzz_reader_$proto"
        tail -c +2 "$out/fuzz_decode_$proto/payload" > "$out/fuzz_reader_$proto/payload"
        tail -c +2 "$out/fuzz_decode_$proto/address" > "$out/fuzz_reader_$proto/address"
    fi
    for msg in '{"method": "add", "type": "call", "seqid": 1, "args": {"a": 1, "b": -2}}' \
               '{"method": "add", "type": "reply", "seqid": 7, "result": {"success": 3}}' \
               '{"method": "fire", "type": "oneway", "seqid": 2, "args": {"n": 9}}' \
               '{"method": "fail", "type": "exception", "seqid": 3, "exception": {"message": "no", "type": 6}}'; do
        "$cli" encode --message "$bench" Bench --protocol $proto <<< "$msg" \
            > "$out/fuzz_message_$proto/m$((i++))"
    done
done
# The frame reader: two control bytes (bit 0 of the first: framed), then the
# message stream; each message seed once buffered and once framed.
for proto in binary compact json; do
    mkdir -p "$out/fuzz_wire_$proto"
    for m in "$out/fuzz_message_$proto"/*; do
        name=$(basename "$m")
        { printf '\000\000'; cat "$m" "$m"; } > "$out/fuzz_wire_$proto/buffered_$name"
        len=$(stat -c %s "$m")
        { printf '\001\000'; printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((len >> 24 & 255)) $((len >> 16 & 255)) $((len >> 8 & 255)) $((len & 255)))"; cat "$m"; } \
            > "$out/fuzz_wire_$proto/framed_$name"
    done
done
# The HTTP request reader: two control bytes (bit 0 of the first: the
# gateway's any-method role, else Thrift-over-HTTP), then the request stream.
mkdir -p "$out/fuzz_http"
printf '\001\000GET /schema HTTP/1.1\r\nOrigin: http://o\r\nX-Request-Timeout-Ms: 250\r\n\r\nPOST /Bench/add HTTP/1.1\r\nContent-Length: 7\r\nThrift-Header-Trace: 1\r\n\r\n[2, 40]' \
    > "$out/fuzz_http/gateway"
printf '\001\000POST /Bench/add HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n3\r\n 2]\r\n0\r\n\r\nOPTIONS / HTTP/1.1\r\nConnection: close\r\n\r\n' \
    > "$out/fuzz_http/chunked"
printf '\000\000POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd' > "$out/fuzz_http/thrift"
