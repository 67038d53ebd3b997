#!/usr/bin/env python3
"""Runs the JSON mapping suite: test/suites/json/<case>/ holds

  schema.thrift   optional: the IDL; without it, the suite's shared
                  test/suites/json/schema.thrift
  type.txt        the TYPE given to the CLI (a struct, union or exception)
  input.json      the JSON value fed to `dynthrift encode`
  expected.json   the exact text `dynthrift decode` prints after the round
                  trip (one line), checked through binary, compact and json
  error.txt       or: the exact text `dynthrift encode` prints on stderr
                  (exit status 65); every protocol must fail the same way
  args.txt        optional: extra encode options (--ignore-unknown ...)

One TAP line per case.  CLI path from $DYNTHRIFT_CLI."""
import os
import subprocess
import sys

PROTOCOLS = ['binary', 'compact', 'json']


def read(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path, 'rb') as f:
        return f.read()


def run(cli, args, data, cwd):
    p = subprocess.run([cli] + args, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60, cwd=cwd)
    return p.returncode, p.stdout, p.stderr.decode('utf-8', 'replace')


def run_case(cli, case):
    # Run in the case folder with a relative schema path, so that an IDL
    # error's file:line:col in error.txt does not depend on the checkout.
    schema = 'schema.thrift'
    if not os.path.exists(os.path.join(case, schema)):
        schema = os.path.join('..', 'schema.thrift')
    tname = read(os.path.join(case, 'type.txt')).decode().strip()
    data = read(os.path.join(case, 'input.json'))
    extra = (read(os.path.join(case, 'args.txt'), b'').decode().split())
    expected = read(os.path.join(case, 'expected.json'))
    error = read(os.path.join(case, 'error.txt'))
    problems = []
    for proto in PROTOCOLS:
        rc, out, err = run(cli, ['encode', schema, tname, '--protocol', proto] + extra,
                           data, case)
        if error is not None:
            want = error.decode().strip()
            if rc != 65 or err.strip() != want:
                problems.append('%s: encode exit %d, stderr %r; want 65 and %r'
                                % (proto, rc, err.strip(), want))
            continue
        if rc != 0:
            problems.append('%s: encode failed (%d): %s' % (proto, rc, err.strip()))
            continue
        rc, back, err = run(cli, ['decode', schema, tname, '--protocol', proto], out,
                           case)
        if rc != 0:
            problems.append('%s: decode failed (%d): %s' % (proto, rc, err.strip()))
            continue
        if back.strip() != expected.strip():
            problems.append('%s: got\n%s\nexpected\n%s' % (
                proto, back.decode('utf-8', 'replace').strip(),
                expected.decode('utf-8', 'replace').strip()))
    return problems


# The decode command itself, on the suite's shared schema: (name, args,
# stdin, exit status, exact stdout, text stderr must contain).
CLI_CHECKS = [
    # issue 10, item 12: a rejected input prints nothing on stdout
    ('decode: trailing bytes print nothing', ['decode', 'schema.thrift', 'Address'],
     b'\x0b\x00\x01\x00\x00\x00\x01a\x00\x01', 65, b'', '<binary>@9: 1 trailing bytes after the value'),
    ('decode --raw: trailing bytes print nothing',
     ['decode', '--raw'], b'\x00\x01', 65, b'', '1 trailing bytes after the value'),
    ('decode: the value alone is printed', ['decode', 'schema.thrift', 'Address'],
     b'\x0b\x00\x01\x00\x00\x00\x01a\x00', 0, b'{"street":"a"}\n', ''),
    # issue 10, item 12: a compact size beyond 2^31-1 is not "negative"
    ('decode compact: huge map size', ['decode', 'schema.thrift', 'Payload',
                                       '--protocol', 'compact'],
     b'\x16\x02\x2b\xff\xff\xff\xff\x0f\x00', 65, b'',
     'map size 4294967295 is invalid (larger than 2147483647)'),
]


def check_cli(cli, suite, args, stdin, want_rc, want_out, want_err):
    rc, out, err = run(cli, args, stdin, suite)
    if rc != want_rc or out != want_out or want_err not in err:
        return ['expected exit %d, stdout %r, stderr containing %r'
                % (want_rc, want_out, want_err),
                'got exit %d, stdout %r, stderr %r' % (rc, out[:200], err[:300])]
    return []


def main():
    suite = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'json')
    cli = os.environ.get('DYNTHRIFT_CLI')
    if not cli or not os.access(cli, os.X_OK):
        print('1..0 # SKIP DYNTHRIFT_CLI is not set')
        return 77
    cases = sorted(d for d in os.listdir(suite)
                   if os.path.isdir(os.path.join(suite, d)))
    failed = 0
    for i, name in enumerate(cases, 1):
        problems = run_case(cli, os.path.join(suite, name))
        print('%s %d - %s' % ('not ok' if problems else 'ok', i, name))
        for p in problems:
            for line in p.splitlines():
                print('#   ' + line[:500])
        failed += bool(problems)
        sys.stdout.flush()
    for i, (name, args, stdin, rc, out, err) in enumerate(CLI_CHECKS, len(cases) + 1):
        problems = check_cli(cli, suite, args, stdin, rc, out, err)
        print('%s %d - cli: %s' % ('not ok' if problems else 'ok', i, name))
        for p in problems:
            print('#   ' + p[:500])
        failed += bool(problems)
    print('1..%d' % (len(cases) + len(CLI_CHECKS)))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
