#!/usr/bin/env python3
"""Runs the IDL suite: python3 run_idl_suite.py SUITE_DIR

Each case is a folder SUITE_DIR/<case>/ holding input.thrift (plus any file
it includes) and either
  expected.txt  the exact `dynthrift idl --format text input.thrift` output
                (exit status 0), or
  error.txt     the exact first line of stderr, e.g.
                `input.thrift:3:12: unknown type 'Usr'` (exit status 65).
An optional args.txt adds command-line arguments (one per line, e.g. `-I`
and `inc`) before input.thrift.  The command runs with the case folder as
its working directory, so paths in messages stay short.  The dynthrift
binary comes from $DYNTHRIFT_CLI.  One TAP line per case.

--write-missing  writes expected.txt/error.txt for cases that have neither,
                 from what dynthrift prints now (review them before
                 committing: an expectation must be checked by hand).
"""
import difflib
import os
import re
import subprocess
import sys


def run_case(cli, case_dir):
    args = [cli, "idl"]
    extra = os.path.join(case_dir, "args.txt")
    if os.path.exists(extra):
        with open(extra) as f:
            args += [l.rstrip("\n") for l in f if l.strip()]
    args += ["input.thrift", "--format", "text"]
    p = subprocess.run(args, cwd=case_dir, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def check(cli, case_dir, write_missing):
    """Returns (ok, [diagnostic lines])."""
    rc, out, err = run_case(cli, case_dir)
    first = err.splitlines()[0] if err else ""
    exp_path = os.path.join(case_dir, "expected.txt")
    err_path = os.path.join(case_dir, "error.txt")
    if os.path.exists(exp_path):
        with open(exp_path, encoding="utf-8", errors="replace") as f:
            want = f.read()
        if rc != 0:
            return False, ["expected success, got exit %d:" % rc] + err.splitlines()[:3]
        if out != want:
            diff = difflib.unified_diff(want.splitlines(), out.splitlines(),
                                        "expected.txt", "actual", lineterm="")
            return False, list(diff)[:40]
        return True, []
    if os.path.exists(err_path):
        with open(err_path, encoding="utf-8") as f:
            want = f.read().splitlines()[0] if os.path.getsize(err_path) else ""
        if rc != 65:
            return False, ["expected exit 65 and: " + want,
                           "got exit %d: %s" % (rc, first)]
        if first != want:
            return False, ["expected: " + want, "got:      " + first]
        return True, []
    if write_missing:
        if rc == 0:
            with open(exp_path, "w", encoding="utf-8") as f:
                f.write(out)
        else:
            with open(err_path, "w", encoding="utf-8") as f:
                f.write(first + "\n")
        return True, ["wrote " + ("expected.txt" if rc == 0 else "error.txt")]
    return False, ["neither expected.txt nor error.txt"]


# The command line itself: (name, args, stdin, exit status, text the first
# line of stdout+stderr must start with).
CLI_CHECKS = [
    ("help", ["--help"], None, 0, "usage: dynthrift idl"),
    ("no FILE", [], None, 64, "dynthrift idl: missing FILE"),
    ("two FILEs", ["a.thrift", "b.thrift"], None, 64, "dynthrift idl: more than one FILE"),
    ("bad format", ["x.thrift", "--format", "xml"], None, 64, "dynthrift idl: unknown format 'xml'"),
    ("-I without DIR", ["-I"], None, 64, "dynthrift idl: option -I needs a directory"),
    ("unknown option", ["--nope", "x.thrift"], None, 64, "dynthrift idl: unknown option '--nope'"),
    ("missing file", ["no-such-file.thrift"], None, 65, "no-such-file.thrift: "),
    ("stdin", ["-"], b"struct A { 1: i32 x }\n", 0, 'module <stdin> "<stdin>"'),
    ("stdin error", ["-"], b"struct A { 1: Nope n }\n", 65,
     "<stdin>:1:15: Type \"Nope\" not defined"),
    ("--format=json", ["-", "--format=json"], b"const i32 K = 1\n", 0, "{"),
    # issue 10, item 10: these said "out of memory" (exit 70)
    ("--format json: binary const not UTF-8", ["-", "--format", "json"],
     b'const binary B = "\xff"\n', 65,
     "dynthrift idl: <stdin>: a binary constant, doc comment or annotation "
     "holds bytes that are not valid UTF-8, which JSON cannot carry"),
    ("--format json: string const not UTF-8", ["-", "--format", "json"],
     b'const string S = "\xff"\n', 65,
     '<stdin>:1:18: type error: const "S" was declared as string, but its '
     "bytes are not valid UTF-8"),
    ("--format json: 1e999", ["-", "--format", "json"],
     b"const double D = 1e999\n", 65,
     '<stdin>:1:18: This double is too big: "1e999"'),
]


def check_cli(cli, args, stdin, want_rc, want_start):
    p = subprocess.run([cli, "idl"] + args, input=stdin or b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    text = (p.stdout + p.stderr).decode("utf-8", "replace")
    first = text.splitlines()[0] if text else ""
    if p.returncode != want_rc or not first.startswith(want_start):
        return False, ["expected exit %d and: %s" % (want_rc, want_start),
                       "got exit %d: %s" % (p.returncode, first)]
    located = re.match(r"[^ ]*:\d+:\d+: ", first)
    if want_rc == 65 and "\n" not in text.strip() and stdin and located:
        return False, ["no source line and caret after the error"]
    return True, []


def main(argv):
    write_missing = "--write-missing" in argv
    argv = [a for a in argv if a != "--write-missing"]
    if len(argv) != 2:
        sys.stderr.write("usage: run_idl_suite.py [--write-missing] SUITE_DIR\n")
        return 2
    suite = os.path.abspath(argv[1])
    cli = os.environ.get("DYNTHRIFT_CLI")
    if not cli or not os.access(cli, os.X_OK):
        print("1..0 # SKIP DYNTHRIFT_CLI is not set to the dynthrift binary")
        return 77
    cases = sorted(d for d in os.listdir(suite)
                   if os.path.isfile(os.path.join(suite, d, "input.thrift")))
    print("1..%d" % (len(cases) + len(CLI_CHECKS)))
    failed = 0
    for n, case in enumerate(cases, 1):
        try:
            ok, notes = check(cli, os.path.join(suite, case), write_missing)
        except subprocess.TimeoutExpired:
            ok, notes = False, ["timed out"]
        if not ok:
            failed += 1
        print("%s %d - %s" % ("ok" if ok else "not ok", n, case))
        for line in notes:
            print("#   " + line)
        sys.stdout.flush()
    for n, (name, args, stdin, rc, start) in enumerate(CLI_CHECKS, len(cases) + 1):
        ok, notes = check_cli(cli, args, stdin, rc, start)
        if not ok:
            failed += 1
        print("%s %d - cli: %s" % ("ok" if ok else "not ok", n, name))
        for line in notes:
            print("#   " + line)
    print("# %d cases and %d command-line checks, %d failed"
          % (len(cases), len(CLI_CHECKS), failed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
