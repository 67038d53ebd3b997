"""dynthrift: thriftpy's API on the dynthrift C engine.

    import dynthrift
    pingpong = dynthrift.load("pingpong.thrift", module_name="pingpong_thrift")

Existing thriftpy code runs by changing its imports (``thriftpy`` ->
``dynthrift``); see the README's Python section for what differs.
"""
from .parser import load, loads, load_module, ThriftParserError  # noqa: F401
from .hook import install_import_hook, remove_import_hook  # noqa: F401

__all__ = ["load", "loads", "load_module", "install_import_hook",
           "remove_import_hook", "ThriftParserError"]
