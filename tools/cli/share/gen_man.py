#!/usr/bin/env python3
"""Writes the man page of `dynthrift` or of one of its commands from the
command's own --help text, so the page never drifts from the program.

usage: gen_man.py DYNTHRIFT COMMAND|- OUTPUT VERSION
"""
import subprocess
import sys

SEE_ALSO = ["idl", "list", "describe", "encode", "decode", "call", "serve", "bench", "gateway",
            "ui"]


def roff_escape(line):
    line = line.replace("\\", "\\e")
    # A line starting with . or ' would be a roff request.
    if line.startswith((".", "'")):
        line = "\\&" + line
    return line.replace("-", "\\-")


def main():
    binary, command, output, version = sys.argv[1:5]
    args = [binary, "--help"] if command == "-" else [binary, "help", command]
    text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    lines = text.rstrip("\n").split("\n")
    name = "dynthrift" if command == "-" else "dynthrift-" + command
    # The usage lines are the synopsis; the rest is the description.
    synopsis = []
    while lines and (lines[0].startswith("usage: ") or (synopsis and lines[0].startswith("  "))):
        synopsis.append(lines.pop(0).replace("usage: ", "", 1).strip())
    while lines and not lines[0].strip():
        lines.pop(0)
    summary = {"-": "load .thrift files at run time; encode, decode, call and serve by name",
               "idl": "load a .thrift file and print its schema",
               "list": "list the services of a .thrift file, or a service's methods",
               "describe": "a method's signature and a JSON template of its arguments",
               "encode": "JSON value in, Thrift bytes out",
               "decode": "Thrift bytes in, JSON value out",
               "call": "call a method of a Thrift server, JSON in, JSON out",
               "serve": "serve a Thrift service without code",
               "bench": "load-test a Thrift server",
               "gateway": "JSON/HTTP gateway and web UI in front of a Thrift server",
               "ui": "the gateway's web UI on a free local port"}.get(command, "")
    out = ['.TH %s 1 "" "dynthrift %s" "dynthrift manual"' % (name.upper(), version),
           ".SH NAME", "%s \\- %s" % (roff_escape(name), roff_escape(summary)),
           ".SH SYNOPSIS"]
    for s in synopsis:
        out += [".nf", roff_escape(s), ".fi"]
    out += [".SH DESCRIPTION", ".nf"]
    out += [roff_escape(l) for l in lines]
    out += [".fi", ".SH SEE ALSO"]
    others = [c for c in SEE_ALSO if c != command]
    refs = ["\\fBdynthrift\\fR(1)"] if command != "-" else []
    refs += ["\\fBdynthrift\\-%s\\fR(1)" % c for c in others]
    out.append(", ".join(refs))
    with open(output, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
