"""statesmix: lossless compression with an online-trained state space model.

The API follows the stdlib lzma module: compress(), decompress(), open(),
StateSMixCompressor, StateSMixDecompressor, StateSMixFile, StateSMixError.
"""
from .api import StateSMixCompressor, StateSMixDecompressor, compress, decompress
from .errors import StateSMixError
from .file import StateSMixFile, open

__version__ = "0.1.0"
__all__ = ["StateSMixCompressor", "StateSMixDecompressor", "StateSMixError",
           "StateSMixFile", "compress", "decompress", "open", "__version__"]
