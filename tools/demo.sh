#!/usr/bin/env bash
# The main job: build dynthrift and show it working on idl-samples/pingpong.thrift.
# Installs what it needs with apt-get when missing; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
ensure_packages $BUILD_PACKAGES
meson_build build --buildtype=release
cli=build/tools/dynthrift

echo "== the schema dynthrift loaded from idl-samples/pingpong.thrift, at run time"
"$cli" idl idl-samples/pingpong.thrift
