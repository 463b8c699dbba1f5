"""statesmix: lossless compression with an online-trained state space model.

The API follows the stdlib lzma module: compress(), decompress(), open(),
StateSMixCompressor, StateSMixDecompressor, StateSMixFile, StateSMixError
(and StateSMixEOFError, for truncated input: also an EOFError).

The names are imported on first use (PEP 562), so that a light submodule
such as statesmix.units or statesmix.errors loads without the C extension,
numpy and the tokenizer (the benchmark's parent process relies on it).
"""
import importlib
from typing import TYPE_CHECKING

from .threads import prepare_openmp

__version__ = "0.1.0"

# before any submodule can load the C extension, and with it libgomp
prepare_openmp()

_HOMES = {"compress": "api", "decompress": "api", "StateSMixCompressor": "compressor",
          "StateSMixDecompressor": "decompressor", "StateSMixError": "errors",
          "StateSMixEOFError": "errors", "StateSMixFile": "file", "open": "file"}
__all__ = sorted(_HOMES) + ["__version__"]

if TYPE_CHECKING:
    from .api import compress, decompress
    from .compressor import StateSMixCompressor
    from .decompressor import StateSMixDecompressor
    from .errors import StateSMixEOFError, StateSMixError
    from .file import StateSMixFile, open


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError("module 'statesmix' has no attribute %r" % name)
    value = getattr(importlib.import_module("." + _HOMES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
