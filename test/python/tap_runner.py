#!/usr/bin/python3
"""Runs one unittest file and prints TAP: one line per test, so
tools/test_summary.py counts each.  Usage: tap_runner.py test_x.py

The binding is found through PYTHONPATH (BUILD/src/python, set by meson).
Exits 77 (skip) when `import dynthrift` is impossible because the build has
no Python binding."""
import os
import sys
import unittest


class TapResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.n = 0
        self.bad = 0

    def _line(self, ok, test, extra=''):
        self.n += 1
        if not ok:
            self.bad += 1
        print('%s %d - %s%s' % ('ok' if ok else 'not ok', self.n, test.id(), extra))
        sys.stdout.flush()

    def addSuccess(self, test):
        self._line(True, test)

    def addSkip(self, test, reason):
        self._line(True, test, ' # SKIP ' + reason)

    def addExpectedFailure(self, test, err):
        self._line(True, test, ' # TODO expected failure')

    def addUnexpectedSuccess(self, test):
        self._line(False, test, ' (unexpected success)')

    def _fail(self, test, err):
        self._line(False, test)
        for line in self._exc_info_to_string(err, test).splitlines():
            print('# ' + line)

    addFailure = _fail
    addError = _fail

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self._fail(subtest, err)


def main():
    path = os.path.abspath(sys.argv[1])
    sys.path.insert(0, os.path.dirname(path))
    try:
        import dynthrift  # noqa: F401
    except ImportError as e:
        print('1..0 # SKIP no Python binding: %s' % e)
        sys.exit(0)
    name = os.path.splitext(os.path.basename(path))[0]
    suite = unittest.defaultTestLoader.loadTestsFromName(name)
    result = TapResult()
    suite.run(result)
    print('1..%d' % result.n)
    sys.exit(1 if result.bad else 0)


if __name__ == '__main__':
    main()
