"""statesmix: lossless compression with an online-trained state space model.

The API follows the stdlib lzma module: compress(), decompress(), open(),
StateSMixCompressor, StateSMixDecompressor, StateSMixFile, StateSMixError
(and StateSMixEOFError, for truncated input: also an EOFError).
"""
from .api import compress, decompress
from .compressor import StateSMixCompressor
from .decompressor import StateSMixDecompressor
from .errors import StateSMixEOFError, StateSMixError
from .file import StateSMixFile, open

__version__ = "0.1.0"
__all__ = ["StateSMixCompressor", "StateSMixDecompressor", "StateSMixEOFError",
           "StateSMixError", "StateSMixFile", "compress", "decompress", "open",
           "__version__"]
