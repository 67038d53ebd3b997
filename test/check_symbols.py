"""Exported-symbol check (TAP): libdynthrift must link into one program with
Apache Thrift's C (GLib) library, so no symbol it exports may equal one that
libthrift_c_glib.so exports; and every export carries the public prefix."""
import glob
import os
import subprocess
import sys

lib = sys.argv[1]


def exports(path):
    out = subprocess.run(["nm", "-D", "--defined-only", path],
                         capture_output=True, text=True, check=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBRVWiu":
            syms.add(parts[2].split("@")[0])
    return syms


ours = exports(lib)
n = 0


def check(ok, what, detail=""):
    global n
    n += 1
    print(f"{'ok' if ok else 'not ok'} {n} - {what}")
    if not ok and detail:
        print("# " + detail)


check(len(ours) > 0, f"libdynthrift exports symbols ({len(ours)})")
bad_prefix = sorted(s for s in ours if not s.startswith("thrift_")
                    or s.startswith("thrift__"))
check(not bad_prefix, "every export is public API with prefix thrift_",
      " ".join(bad_prefix[:20]))
check(not any(s.startswith("T_") for s in ours), "no T_* constants exported")

glib = [p for p in glob.glob("/usr/lib/*/libthrift_c_glib.so*") +
        glob.glob("/usr/lib/libthrift_c_glib.so*") if os.path.isfile(p)]
if not glib:
    n += 1
    print(f"ok {n} - # SKIP libthrift_c_glib.so not installed "
          "(Debian: libthrift-c-glib-dev)")
else:
    theirs = exports(sorted(glib)[0])
    clash = sorted(ours & theirs)
    check(not clash, f"no export shared with {os.path.basename(glib[0])} "
          f"({len(theirs)} symbols)", " ".join(clash[:20]))
print(f"1..{n}")
