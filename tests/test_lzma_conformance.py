"""CPython's own lzma and bz2 tests, run against statesmix.

The interpreter's test.test_lzma and test.test_bz2 are loaded at run time
(nothing of them is copied here) as private module objects whose names are
rebound to thin adapters: LZMAFile and BZ2File -> StateSMixFile,
LZMACompressor/BZ2Compressor -> StateSMixCompressor, LZMADecompressor/
BZ2Decompressor -> StateSMixDecompressor, the lzma/bz2 module functions ->
statesmix's, LZMAError -> StateSMixError; their test data is recompressed
with statesmix.  The adapters only translate arguments:

* lzma's format, check and filters select among lzma's own containers and
  filters; statesmix has one format, so they are accepted and ignored, every
  lzma test stream is the one statesmix stream of its data, and the
  integrity check of a stream (`.check`) is statesmix's one check;
* lzma presets and bz2 levels do not correspond to statesmix levels: every
  valid one selects level 1 (the fastest model: the API is under test, not
  the ratio), invalid ones are passed on to be refused;
* the recompressed test data has 1 KiB blocks: a block's bytes come out
  once its whole compressed body is in, and the tests expect output from
  part of a stream.

The cases that test lzma's or bzip2's formats, filters and checks, or
CPython internals, are skipped, each with its reason, and so are the
deliberate differences of statesmix (README, "Differences from lzma").  The
module skips where the interpreter ships no `test` package.
"""
import importlib.util
import os
import sys
import types
import unittest

import pytest

import statesmix
from statesmix import (StateSMixCompressor, StateSMixDecompressor, StateSMixError,
                       StateSMixFile)
from statesmix import container as ct

try:
    _LZMA_SPEC = importlib.util.find_spec("test.test_lzma")
    _BZ2_SPEC = importlib.util.find_spec("test.test_bz2")
except ImportError:
    _LZMA_SPEC = _BZ2_SPEC = None
if _LZMA_SPEC is None or _BZ2_SPEC is None:
    pytest.skip("this interpreter ships no test package (test.test_lzma, test.test_bz2)",
                allow_module_level=True)

import lzma as _lzma  # noqa: E402

FAST = 1                        # the level every valid lzma preset or bz2 level selects
BLOCK = ct.MIN_BLOCK_SIZE
CHECK = "xxh64"                 # statesmix's one integrity check


def _load(spec, name):
    """A private copy of a CPython test module (the real one stays untouched)."""
    private = importlib.util.spec_from_file_location(name, spec.origin)
    module = importlib.util.module_from_spec(private)
    private.loader.exec_module(module)
    return module


def _write_level(value, valid):
    return FAST if value in valid and not isinstance(value, bool) else value


def _data(raw):
    return statesmix.compress(raw, level=FAST, block_size=BLOCK)


# ---------------------------------------------------------------- lzma

_LZMA_PRESETS = range(10)


def _lzma_level(preset):
    return FAST if preset is None else _write_level(preset, _LZMA_PRESETS)


class _LZMADecompressor(StateSMixDecompressor):
    check = CHECK

    def __init__(self, format=_lzma.FORMAT_AUTO, memlimit=None, filters=None):
        super().__init__(memory_limit=memlimit)


def _lzma_compressor(format=_lzma.FORMAT_XZ, check=-1, preset=None, filters=None):
    return StateSMixCompressor(_lzma_level(preset))


def _writing(mode):
    return isinstance(mode, str) and mode[:1] in ("w", "x", "a")


class _LZMAFile(StateSMixFile):
    def __init__(self, filename=None, mode="r", *, format=None, check=-1, preset=None,
                 filters=None):
        super().__init__(filename, mode, level=_lzma_level(preset)
                         if _writing(mode) or preset is not None else None)


def _lzma_open(filename, mode="rb", *, format=None, check=-1, preset=None, filters=None,
               encoding=None, errors=None, newline=None):
    return statesmix.open(filename, mode, level=_lzma_level(preset)
                          if _writing(mode) or preset is not None else None,
                          encoding=encoding, errors=errors, newline=newline)


def _lzma_module():
    shim = types.SimpleNamespace(
        LZMAError=StateSMixError, LZMAFile=_LZMAFile, LZMACompressor=_lzma_compressor,
        LZMADecompressor=_LZMADecompressor, open=_lzma_open,
        compress=lambda data, format=_lzma.FORMAT_XZ, check=-1, preset=None, filters=None:
            statesmix.compress(data, level=_lzma_level(preset)),
        decompress=lambda data, format=_lzma.FORMAT_AUTO, memlimit=None, filters=None:
            statesmix.decompress(data, memory_limit=memlimit))
    for name in dir(_lzma):
        if name.isupper() and name.startswith(("FORMAT_", "FILTER_", "PRESET_", "MF_", "MODE_")):
            setattr(shim, name, getattr(_lzma, name))
    for name in dir(_lzma):
        if name.startswith("CHECK_"):
            setattr(shim, name, CHECK)
    return shim


LZMA_SKIPS = {
    # lzma's formats, filters and checks
    "test_simple_bad_args": "checks lzma's format, check and filters arguments",
    "test_bad_filter_spec": "lzma filter chains",
    "test_decompressor_bad_input": "lzma data in the wrong one of lzma's formats",
    "test_decompressor_bug_28275": "raw lzma data fed to the container decoder",
    "test_bad_args": "checks lzma's format, check and filters arguments",
    "test_decompress_bad_input": "lzma data in the wrong one of lzma's formats",
    "test_decompress_incomplete_input": "raw lzma formats, which have no end marker",
    "test_read_truncated": "cuts lzma's 12-byte footer (test_api.py "
                           "test_truncated_trailer_gives_the_data_then_eof cuts statesmix's)",
    "test_init_bad_check": "lzma integrity check ids",
    "test_init_bad_filter_spec": "lzma filter chains",
    "test_init_with_preset_and_filters": "lzma filter chains",
    "test_format_and_filters": "lzma's raw format and filters",
    "test_is_check_supported": "lzma integrity check ids",
    "test__encode_filter_properties": "lzma filter properties",
    "test__decode_filter_properties": "lzma filter properties",
    "test_filter_properties_roundtrip": "lzma filter properties",
    # deliberate differences
    **dict.fromkeys(("test_write", "test_write_10", "test_write_append",
                     "test_write_append_to_file", "test_write_to_file",
                     "test_write_to_file_with_bytes_filename", "test_writelines"),
                    "compares a file's bytes with compress()'s: compress() knows the size "
                    "and records it (the model sizes its tables from it), a file when "
                    "given content_size= (test_api.py test_every_writer_agrees)"),
    "test_decompressor_chunks_maxsize": "a block's bytes come once its whole compressed body "
                                        "is in; half of this 2-block stream holds none",
    "test_init_bad_preset": "a level out of range raises ValueError (as bz2), a negative "
                            "one too (lzma: LZMAError, OverflowError)",
}

# ---------------------------------------------------------------- bz2

_BZ2_LEVELS = range(1, 10)


class _BZ2Decompressor(StateSMixDecompressor):
    def __init__(self):
        super().__init__()


def _bz2_compressor(compresslevel=9):
    return StateSMixCompressor(_write_level(compresslevel, _BZ2_LEVELS))


class _BZ2File(StateSMixFile):
    def __init__(self, filename, mode="r", *, compresslevel=9):
        # a level given for reading is refused, as bz2 refuses a bad one
        super().__init__(filename, mode, level=_write_level(compresslevel, _BZ2_LEVELS)
                         if _writing(mode) or compresslevel != 9 else None)


def _bz2_open(filename, mode="rb", compresslevel=9, encoding=None, errors=None,
              newline=None):
    return statesmix.open(filename, mode, level=_write_level(compresslevel, _BZ2_LEVELS)
                          if _writing(mode) else None,
                          encoding=encoding, errors=errors, newline=newline)


def _bz2_module():
    return types.SimpleNamespace(
        BZ2File=_BZ2File, BZ2Compressor=_bz2_compressor, BZ2Decompressor=_BZ2Decompressor,
        open=_bz2_open,
        compress=lambda data, compresslevel=9: statesmix.compress(
            data, level=_write_level(compresslevel, _BZ2_LEVELS)),
        decompress=lambda data: statesmix.decompress(data))


BZ2_SKIPS = {
    "test_read_truncated": "cuts bzip2's 10-byte footer (test_api.py "
                           "test_truncated_trailer_gives_the_data_then_eof cuts statesmix's)",
    "testWriteNonDefaultCompressLevel": "compares a file's bytes with compress()'s: "
                                        "compress() records the size, a file when told",
    "BZ2CompressorTest.testCompressEmptyString": "compares a compressor's bytes with "
                                                 "compress()'s: compress() records the size "
                                                 "(0), a compressor when told",
    "testThreading": "writes 50 MB: minutes at statesmix's speed (test_api.py "
                     "test_file_writes_from_threads checks the same on less)",
    "testReadBadFile": "bad data raises StateSMixError (as lzma raises LZMAError), not OSError",
    "testDecompressBadData": "bad data raises StateSMixError (as lzma raises LZMAError), "
                             "not OSError",
    "testDecompressIncomplete": "a truncated stream raises StateSMixEOFError, an EOFError "
                                "(as the file objects of lzma and bz2), not ValueError",
    "testDecompressEmpty": "empty input is truncated input, an EOFError, as for lzma and "
                           "the file objects of both (bz2.decompress returns b'')",
    "testReadlinesNoNewline": "its input is a bzip2 stream written into the test",
}


# ---------------------------------------------------------------- collection

def _adapt(module, skips, names):
    """Rebind the module's names, collect its TestCase classes (skipping the
    listed cases) into this module, for pytest."""
    for name, value in names.items():
        setattr(module, name, value)
    for name, cls in vars(module).items():
        if isinstance(cls, type) and issubclass(cls, unittest.TestCase) and \
                any(n.startswith("test") for n in dir(cls)):
            # a skip names a case ("test_x") or a case of one class ("Class.test_x")
            mine = {key.rpartition(".")[2]: why for key, why in skips.items()
                    if key.rpartition(".")[0] in ("", name)}
            body = {case: unittest.skip(why)(getattr(cls, case))
                    for case, why in mine.items() if hasattr(cls, case)}
            body["__module__"] = __name__
            sub = type("%s_%s" % (module.__name__.rsplit("_", 1)[-1].upper(), name), (cls,),
                       body)
            globals()[sub.__name__] = sub


def _setup():
    lz = _load(_LZMA_SPEC, "statesmix_conformance_lzma")
    stream = _data(lz.INPUT)
    names = {"lzma": _lzma_module(), "LZMAFile": _LZMAFile,
             "LZMACompressor": _lzma_compressor, "LZMADecompressor": _LZMADecompressor,
             "LZMAError": StateSMixError,
             "ISSUE_21872_DAT": _data(_lzma.decompress(lz.ISSUE_21872_DAT))}
    for name in dir(lz):
        if name.startswith("COMPRESSED_") and name != "COMPRESSED_BOGUS":
            names[name] = stream
    _adapt(lz, LZMA_SKIPS, names)

    bz = _load(_BZ2_SPEC, "statesmix_conformance_bz2")
    base = bz.BaseTest
    base.DATA = _data(base.TEXT)
    base.EMPTY_DATA = _bz2_module().compress(b"")      # what its compressor gives
    base.BIG_DATA = _data(bytes(base.BIG_TEXT))
    _adapt(bz, BZ2_SKIPS, {"bz2": _bz2_module(), "BZ2File": _BZ2File,
                           "BZ2Compressor": _bz2_compressor,
                           "BZ2Decompressor": _BZ2Decompressor,
                           "has_cmdline_bunzip2": False})


@pytest.fixture(autouse=True, scope="module")
def _in_a_scratch_directory(tmp_path_factory):
    """The CPython tests write files into the current directory."""
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("conformance"))
    yield
    os.chdir(here)


_setup()
assert sys.modules.get("test.test_lzma") is None or \
    sys.modules["test.test_lzma"].LZMAFile is _lzma.LZMAFile
