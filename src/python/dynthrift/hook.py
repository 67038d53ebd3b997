"""`import foo_thrift` loads foo.thrift found on sys.path (thriftpy.hook)."""
import importlib.abc
import importlib.util
import os
import sys


class ThriftImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, extension='_thrift'):
        self.extension = extension

    def __eq__(self, other):
        return (type(other).__name__ == type(self).__name__ and
                getattr(other, 'extension', None) == self.extension)

    def __hash__(self):
        return hash(self.extension)

    def _find_file(self, fullname):
        if not fullname.endswith(self.extension) or '.' in fullname:
            return None
        base = fullname[:-len(self.extension)] + '.thrift'
        for d in sys.path:
            candidate = os.path.join(d or '.', base)
            if os.path.isfile(candidate):
                return candidate
        return None

    def find_spec(self, fullname, path=None, target=None):
        thrift_file = self._find_file(fullname)
        if thrift_file is None:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=thrift_file)

    def create_module(self, spec):
        from .parser import load
        return load(spec.origin, module_name=spec.name)

    def exec_module(self, module):
        pass


_imp = ThriftImporter()


def install_import_hook():
    sys.meta_path[:] = [x for x in sys.meta_path if _imp != x] + [_imp]


def remove_import_hook():
    sys.meta_path[:] = [x for x in sys.meta_path if _imp != x]
