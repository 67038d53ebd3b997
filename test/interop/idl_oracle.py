#!/usr/bin/python3
"""Apache's compiler as an oracle for dynthrift's IDL loader.

For every .thrift file of the IDL corpus (../shared/idl-corpus, see its
MANIFEST.md) and of idl-samples/, run both `thrift --gen json` (Debian's
thrift-compiler 0.17) and `dynthrift idl --format json` with the same include
dirs, and compare the parsed JSON (object key order ignored).  One TAP line
per file.

Where Apache rejects a file, dynthrift must reject it too, with a
`file:line:col: message` error, except where Apache 0.17 is behind the
current grammar or where it rejects an identifier only because some target
language reserves it; there dynthrift accepts, and the TAP line says why.
Where dynthrift rejects a file Apache accepts, the rule dynthrift applies on
purpose is named per file (STRICTER below).

Apache writes invalid JSON for const maps whose keys are containers or
structs (`{[1, 2]: "x"}`); this script parses that leniently and expects
dynthrift to print such a map as an array of [key, value] pairs.

Prints the plan 1..0 # SKIP (exit 0) when `thrift` or the corpus is missing.
"""
import csv
import glob
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

from testlib import skip_all

SOURCE_ROOT = os.environ.get(
    "DYNTHRIFT_SOURCE_ROOT",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
CLI = os.environ.get("DYNTHRIFT_CLI", "")

# Files Apache 0.17 rejects that dynthrift accepts, matched on Apache's
# error text; the reason is printed on the TAP line.
APACHE_BEHIND = [
    (re.compile(r'Type "uuid" not defined'),
     "Apache 0.17 lacks the uuid type (current grammar has it)"),
    (re.compile(r"Cannot use reserved language keyword"),
     "Apache rejects an identifier only because a target language reserves it"),
]
# Files dynthrift accepts although Apache 0.17 rejects them, by name.
ACCEPT_DESPITE_APACHE = {
    "apache-thrift/test/NameConflictTest.thrift":
        "base-type names as field names (`1: i8 i8`): Apache 0.17 bug THRIFT-5626, "
        "accepted by the current grammar",
    "apache-thrift/test/v0.16/NameConflictTest.thrift":
        "base-type names as field names (`1: i8 i8`): Apache 0.17 bug THRIFT-5626, "
        "accepted by the current grammar",
    "thriftpy2/tests/recursive_definition.thrift":
        "a const whose type is a typedef declared further down: dynthrift resolves "
        "every forward reference after parsing; Apache 0.17 resolves a const's type "
        "while parsing it",
}
# Files Apache 0.17 crashes on (SIGSEGV); dynthrift must reject them with an
# error about the include cycle.
INCLUDE_CYCLES = re.compile(r"e_dead_include_\d\.thrift$")
# Files Apache accepts (with at most a warning) that dynthrift rejects on
# purpose, and a regular expression the error line must match.
STRICTER = {
    "thriftpy2/tests/parser-cases/e_structs_0.thrift":
        ("a struct constant missing a required field is an error "
         "(thriftpy2 expects one too)", re.compile(r"requir", re.I)),
}

ERROR_LINE = re.compile(r"^[^:\n]+:\d+:\d+: \S")


# ---- lenient JSON (Apache's output may use arrays/objects as keys) -------

class PairMap(object):
    """An object whose keys are not all strings: a list of (key, value)."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __repr__(self):
        return "PairMap(%r)" % (self.pairs,)


class LenientParser(object):
    def __init__(self, text):
        self.s = text
        self.i = 0

    def ws(self):
        s, i = self.s, self.i
        while i < len(s) and s[i] in " \t\r\n":
            i += 1
        self.i = i

    def error(self, what):
        raise ValueError("%s at offset %d" % (what, self.i))

    def value(self):
        self.ws()
        if self.i >= len(self.s):
            self.error("unexpected end")
        c = self.s[self.i]
        if c == "{":
            return self.obj()
        if c == "[":
            return self.arr()
        if c == '"':
            return self.string()
        m = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?").match(self.s, self.i)
        if m and m.end() > self.i:
            self.i = m.end()
            t = m.group(0)
            return float(t) if (m.group(1) or m.group(2)) else int(t)
        for word, val in (("true", True), ("false", False), ("null", None)):
            if self.s.startswith(word, self.i):
                self.i += len(word)
                return val
        self.error("unexpected %r" % c)

    def string(self):
        assert self.s[self.i] == '"'
        self.i += 1
        out = []
        s = self.s
        while True:
            if self.i >= len(s):
                self.error("unterminated string")
            c = s[self.i]
            if c == '"':
                self.i += 1
                return "".join(out)
            if c == "\\":
                e = s[self.i + 1]
                self.i += 2
                if e == "u":
                    out.append(chr(int(s[self.i:self.i + 4], 16)))
                    self.i += 4
                else:
                    out.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b",
                                "f": "\f", "/": "/", "\\": "\\", '"': '"'}.get(e, e))
                continue
            out.append(c)
            self.i += 1

    def arr(self):
        self.i += 1
        items = []
        self.ws()
        if self.s[self.i] == "]":
            self.i += 1
            return items
        while True:
            items.append(self.value())
            self.ws()
            c = self.s[self.i]
            self.i += 1
            if c == "]":
                return items
            if c != ",":
                self.error("expected , or ]")

    def obj(self):
        self.i += 1
        pairs = []
        self.ws()
        if self.s[self.i] == "}":
            self.i += 1
            return {}
        while True:
            k = self.value()
            self.ws()
            if self.s[self.i] != ":":
                self.error("expected :")
            self.i += 1
            v = self.value()
            pairs.append((k, v))
            self.ws()
            c = self.s[self.i]
            self.i += 1
            if c == "}":
                break
            if c != ",":
                self.error("expected , or }")
        if all(isinstance(k, str) for k, _ in pairs):
            return dict(pairs)  # duplicate keys: the last wins, as in json
        return PairMap(pairs)


def parse_lenient(text):
    p = LenientParser(text)
    v = p.value()
    p.ws()
    if p.i != len(p.s):
        p.error("trailing data")
    return v


# ---- comparison ---------------------------------------------------------

def canon(v):
    """A hashable, order-insensitive form (for comparing pair lists)."""
    if isinstance(v, dict):
        return ("o", tuple(sorted((k, canon(x)) for k, x in v.items())))
    if isinstance(v, PairMap):
        return ("p", tuple(sorted((repr(canon(k)), repr(canon(x))) for k, x in v.pairs)))
    if isinstance(v, list):
        return ("l", tuple(canon(x) for x in v))
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, (int, float)):
        return ("n", float(v))
    return ("s", v)


def shape_of(v):
    """The type shape of Apache's value: maps and lists are homogeneous, so
    one item stands for all."""
    if isinstance(v, PairMap):
        if not v.pairs:
            return ("pairs", None, None)
        return ("pairs", shape_of(v.pairs[0][0]), shape_of(v.pairs[0][1]))
    if isinstance(v, list):
        return ("list", shape_of(v[0]) if v else None)
    if isinstance(v, dict):
        return ("dict", dict((k, shape_of(x)) for k, x in v.items()))
    return None


def canon_shaped(v, s):
    """canon(), except that where the shape says `pairs` the value (Apache's
    PairMap or dynthrift's [[k, v], ...]) becomes an order-free set."""
    if s is None:
        return canon(v)
    if s[0] == "pairs":
        pairs = v.pairs if isinstance(v, PairMap) else v
        try:
            return ("p", tuple(sorted(set((repr(canon_shaped(k, s[1])),
                                           repr(canon_shaped(x, s[2])))
                                          for k, x in pairs))))
        except (TypeError, ValueError):
            return canon(v)
    if s[0] == "list" and isinstance(v, list):
        return ("l", tuple(canon_shaped(x, s[1]) for x in v))
    if s[0] == "dict" and isinstance(v, dict):
        return ("o", tuple(sorted((k, canon_shaped(x, s[1].get(k)))
                                  for k, x in v.items())))
    return canon(v)


def numbers_equal(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    fa, fb = float(a), float(b)
    if fa == fb:
        return True
    return math.isfinite(fa) and abs(fa - fb) <= 1e-14 * max(abs(fa), abs(fb))


def compare(a, d, path, diffs):
    """a: Apache's value, d: dynthrift's.  Appends differences to diffs."""
    if len(diffs) >= 5:
        return
    if isinstance(a, PairMap):
        ok = isinstance(d, list) and all(isinstance(p, list) and len(p) == 2 for p in d)
        if not ok:
            diffs.append("%s: Apache has a map with non-string keys, dynthrift %s"
                         % (path, short(d)))
            return
        # Apache keeps a std::map (sorted, duplicates collapsed); dynthrift
        # keeps declaration order: compare as sets, guided by the shape of
        # Apache's value so nested maps of the same kind compare alike.
        s = shape_of(a)
        if canon_shaped(a, s) != canon_shaped(d, s):
            diffs.append("%s: map pairs differ: Apache %s, dynthrift %s"
                         % (path, short(a.pairs), short(d)))
        return
    if a == {} and d == []:
        # An empty set or list default written `{}`: Apache prints the
        # literal's syntax, dynthrift the typed (empty) value.
        return
    if isinstance(a, dict):
        if not isinstance(d, dict):
            diffs.append("%s: Apache has an object, dynthrift %s" % (path, short(d)))
            return
        for k in sorted(set(a) | set(d)):
            if k not in d:
                diffs.append("%s.%s: missing in dynthrift (Apache: %s)" % (path, k, short(a[k])))
            elif k not in a:
                diffs.append("%s.%s: extra in dynthrift: %s" % (path, k, short(d[k])))
            else:
                compare(a[k], d[k], "%s.%s" % (path, k), diffs)
        return
    if isinstance(a, list):
        if not isinstance(d, list):
            diffs.append("%s: Apache has an array, dynthrift %s" % (path, short(d)))
            return
        if len(a) != len(d):
            diffs.append("%s: %d items in Apache, %d in dynthrift" % (path, len(a), len(d)))
            return
        for i, (x, y) in enumerate(zip(a, d)):
            name = x.get("name") if isinstance(x, dict) else None
            compare(x, y, "%s[%s]" % (path, name if isinstance(name, str) else i), diffs)
        return
    if isinstance(a, bool) or isinstance(d, bool):
        if a is not d:
            diffs.append("%s: Apache %s, dynthrift %s" % (path, short(a), short(d)))
        return
    if isinstance(a, (int, float)) and isinstance(d, (int, float)):
        if not numbers_equal(a, d):
            diffs.append("%s: Apache %r, dynthrift %r" % (path, a, d))
        return
    if a != d:
        diffs.append("%s: Apache %s, dynthrift %s" % (path, short(a), short(d)))


def short(v, n=80):
    r = repr(v)
    return r if len(r) <= n else r[:n - 3] + "..."


# ---- running the two compilers ------------------------------------------

def find_corpus():
    for d in (os.path.join(SOURCE_ROOT, "..", "shared", "idl-corpus"),
              "/work/shared/idl-corpus"):
        if os.path.isfile(os.path.join(d, "MANIFEST.tsv")):
            return os.path.realpath(d)
    return None


def corpus_files(corpus):
    """(path relative to corpus, [include dirs relative to corpus])."""
    files = {}
    with open(os.path.join(corpus, "MANIFEST.tsv"), newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            extra = [x for x in (row.get("extra_include_dirs") or "").split(",") if x]
            files[row["file"]] = extra
    # A file added to the corpus without a manifest row still gets checked.
    for dirpath, _, names in os.walk(corpus):
        for n in names:
            if n.endswith(".thrift"):
                rel = os.path.relpath(os.path.join(dirpath, n), corpus)
                files.setdefault(rel, [])
    return sorted(files.items())


def run_apache(path, incs, tmp):
    out = tempfile.mkdtemp(dir=tmp)
    args = ["thrift", "--gen", "json", "-o", out]
    for d in incs:
        args += ["-I", d]
    p = subprocess.run(args + [path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, errors="replace", timeout=120)
    text = None
    if p.returncode == 0:
        js = glob.glob(os.path.join(out, "gen-json", "*.json"))
        if js:
            with open(js[0], encoding="utf-8", errors="replace") as f:
                text = f.read()
    shutil.rmtree(out, ignore_errors=True)
    # Some of Apache's errors go to stdout, others to stderr.
    err = [l for l in (p.stdout + "\n" + p.stderr).splitlines()
           if l.strip() and not l.startswith("[WARNING")]
    return p.returncode, text, " ".join(err[:2]) or ("signal %d" % -p.returncode
                                                      if p.returncode < 0 else "")


def run_dynthrift(path, incs):
    args = [CLI, "idl"]
    for d in incs:
        args += ["-I", d]
    p = subprocess.run(args + [path, "--format", "json"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def main():
    corpus = find_corpus()
    if not shutil.which("thrift"):
        skip_all("the Apache thrift compiler is not installed")
    if not corpus:
        skip_all("no IDL corpus (../shared/idl-corpus)")
    if not CLI or not os.access(CLI, os.X_OK):
        skip_all("DYNTHRIFT_CLI is not set to the dynthrift binary")

    jobs = []
    for rel, extra in corpus_files(corpus):
        path = os.path.join(corpus, rel)
        incs = [os.path.dirname(path)] + [os.path.join(corpus, e) for e in extra]
        jobs.append((rel, path, incs))
    samples = os.path.join(SOURCE_ROOT, "idl-samples")
    for path in sorted(glob.glob(os.path.join(samples, "*.thrift"))):
        jobs.append(("idl-samples/" + os.path.basename(path), path,
                     [os.path.dirname(path)]))

    counts = dict(compared=0, equal=0, accepted=0, rejected=0, stricter=0, failed=0)
    tmp = tempfile.mkdtemp(prefix="idl_oracle.")
    print("1..%d" % len(jobs))
    try:
        for n, (rel, path, incs) in enumerate(jobs, 1):
            ok, note, detail = check_file(rel, path, incs, tmp, counts)
            if not ok:
                counts["failed"] += 1
            print("%s %d - %s%s" % ("ok" if ok else "not ok", n, rel,
                                    " # " + note if note else ""))
            for line in detail:
                print("#   " + line)
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("# files compared: %(compared)d, files equal: %(equal)d, "
          "accepted where Apache rejects: %(accepted)d, "
          "rejected as Apache does: %(rejected)d, "
          "rejected on purpose where Apache accepts: %(stricter)d, "
          "failures: %(failed)d" % counts)
    return 0


def check_file(rel, path, incs, tmp, counts):
    """Returns (ok, note for the TAP line, [diagnostic lines])."""
    arc, atext, aerr = run_apache(path, incs, tmp)
    drc, dout, derr = run_dynthrift(path, incs)
    first_err = derr.splitlines()[0] if derr.strip() else ""

    if arc == 0 and atext is not None:
        if rel in STRICTER:
            why, pattern = STRICTER[rel]
            if drc == 65 and ERROR_LINE.match(first_err) and pattern.search(first_err):
                counts["stricter"] += 1
                return True, "dynthrift rejects on purpose: " + why, ["dynthrift: " + first_err]
            return False, "", ["expected dynthrift to reject: " + why,
                               "dynthrift exit %d: %s" % (drc, first_err)]
        counts["compared"] += 1
        if drc != 0:
            return False, "", ["Apache accepts, dynthrift exits %d:" % drc] + \
                derr.splitlines()[:3]
        try:
            want = parse_lenient(atext)
        except ValueError as e:
            return False, "", ["cannot parse Apache's output: %s" % e]
        try:
            got = parse_lenient(dout)
        except ValueError as e:
            return False, "", ["dynthrift printed invalid JSON: %s" % e]
        if isinstance(got, PairMap) or contains_pairmap(got):
            return False, "", ["dynthrift printed a non-string object key"]
        diffs = []
        compare(want, got, "$", diffs)
        if diffs:
            return False, "", diffs
        counts["equal"] += 1
        return True, "", []

    # Apache rejects (or crashes on) the file.
    reason = ACCEPT_DESPITE_APACHE.get(rel)
    if reason is None:
        for pattern, why in APACHE_BEHIND:
            if pattern.search(aerr):
                reason = why
                break
    if reason is not None:
        if drc == 0:
            counts["accepted"] += 1
            return True, "accepted although Apache 0.17 rejects it: " + reason, \
                ["Apache: " + aerr[:200]]
        return False, "", ["expected dynthrift to accept (%s)" % reason,
                           "dynthrift exit %d: %s" % (drc, first_err)]
    if INCLUDE_CYCLES.search(rel):
        good = drc == 65 and ERROR_LINE.match(first_err) and \
            re.search(r"cycl|recurs|circular", first_err, re.I)
        if good:
            counts["rejected"] += 1
            return True, "include cycle (Apache 0.17 crashes: %s)" % (aerr or "no output"), \
                ["dynthrift: " + first_err]
        return False, "", ["expected an include-cycle error",
                           "dynthrift exit %d: %s" % (drc, first_err)]
    if drc == 65 and ERROR_LINE.match(first_err):
        counts["rejected"] += 1
        return True, "rejected as Apache does", \
            ["Apache:    " + aerr[:200], "dynthrift: " + first_err]
    return False, "", ["Apache rejects: " + aerr[:200],
                       "dynthrift exit %d: %s" % (drc, first_err or dout[:100])]


def contains_pairmap(v):
    if isinstance(v, PairMap):
        return True
    if isinstance(v, dict):
        return any(contains_pairmap(x) for x in v.values())
    if isinstance(v, list):
        return any(contains_pairmap(x) for x in v)
    return False


if __name__ == "__main__":
    sys.exit(main())
