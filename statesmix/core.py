"""Thin wrapper over the C core (statesmix._core, built by cffi)."""
import numpy as np

from . import threads
from ._core import ffi, lib
from .errors import StateSMixError

threads.openmp_loaded()

_ERRORS = {
    lib.SSX_ERR_CORRUPT: "corrupt data",
    lib.SSX_ERR_NOMEM: "out of memory",
    lib.SSX_ERR_PARAM: "invalid parameter",
    lib.SSX_ERR_LIMIT: "memory limit reached",
}


def _check(rc, what):
    if rc < 0:
        raise StateSMixError("%s: %s" % (what, _ERRORS.get(rc, "error %d" % rc)))
    return rc


def _as_buffer(data):
    """A cffi buffer over a bytes-like object without copying when possible."""
    mv = memoryview(data)
    if not mv.c_contiguous:
        mv = memoryview(mv.tobytes())
    return ffi.from_buffer(mv.cast("B") if mv.format != "B" or mv.ndim != 1 else mv)


# The model configuration's fields, in the order of the C struct.
CONFIG_FIELDS = tuple(name for name, _ in ffi.typeof("ssx_config").fields)


# Tokens per step: the callers stream output and handle signals between
# steps, so a step must stay well under a second even with the SSM.
STEP_TOKENS = 1024


def config_types():
    """{field: C type name} of the model configuration."""
    return {name: f.type.cname for name, f in ffi.typeof("ssx_config").fields}


def default_config():
    """The C core's default model configuration (ssx_config_default)."""
    cfg = ffi.new("ssx_config *")
    lib.ssx_config_default(cfg)
    return {name: getattr(cfg, name) for name in CONFIG_FIELDS}


def _c_config(config):
    cfg = ffi.new("ssx_config *")
    lib.ssx_config_default(cfg)
    for key, value in config.items():
        setattr(cfg, key, value)
    return cfg


def memory_bound(config, content_size, block_size):
    """The C core's bound of the bytes a model of this configuration
    allocates (ssx_memory_estimate); content_size -1 when unknown."""
    try:
        n = lib.ssx_memory_estimate(_c_config(config), content_size, block_size)
    except (OverflowError, TypeError):
        n = 0
    if n == 0:
        raise StateSMixError("invalid model configuration")
    return n


class Model:
    """The adaptive model of one stream; blocks must be coded in order.

    A block is coded in one call (encode_block, decode_block) or in steps:
    encode_begin, encode_some until it returns 0, encode_end; decode_begin,
    decode_some until it returns no tokens, decode_end.  Steps let the
    caller stream output and react to signals between them."""

    def __init__(self, config):
        cfg = _c_config(config)
        err = ffi.new("int *")
        ptr = lib.ssx_model_new(cfg, err)
        if ptr == ffi.NULL:
            _check(err[0], "cannot create model")
        self._m = ffi.gc(ptr, lib.ssx_model_free)

    def set_classes(self, classes):
        """Token classes (uint8 array of the vocabulary's size) for the learned
        mixing; before any coding."""
        arr = np.ascontiguousarray(classes, dtype=np.uint8)
        _check(lib.ssx_model_set_classes(self._m, ffi.from_buffer("uint8_t[]", arr), arr.size),
               "cannot set token classes")

    def set_spellings(self, spellings):
        """The bytes of every token (Vocabulary.spellings), for the token
        tree; before any coding."""
        data, off = spellings
        off = np.ascontiguousarray(off, dtype=np.int64)
        _check(lib.ssx_model_set_spellings(self._m, ffi.from_buffer(data),
                                           ffi.from_buffer("int64_t[]", off), off.size - 1),
               "cannot set token spellings")

    def set_vocabulary(self, vocab):
        """What the model needs to know of the vocabulary's tokens."""
        self.set_classes(vocab.classes)
        self.set_spellings(vocab.spellings)

    def set_threads(self, threads):
        """Threads for the parallel kernels (0: OpenMP's count); never changes the output."""
        lib.ssx_model_set_threads(self._m, int(threads or 0))

    @property
    def live(self):
        return lib.ssx_model_live(self._m)

    def memory(self):
        """The bytes the model holds now, counted as memory_bound counts
        them (ssx_model_memory): after the last block, the most it held."""
        return lib.ssx_model_memory(self._m)

    def stats(self):
        st = ffi.new("ssx_stats *")
        lib.ssx_model_stats(self._m, st)
        return {k: getattr(st, k) for k in ("tokens", "new_tokens", "ideal_bits",
                                            "coded_bits", "payload_bytes", "vocab_bytes")}

    def progress(self):
        """[(tokens, ideal_bits)] every SSX_PROGRESS_STEP tokens coded so far."""
        n = lib.ssx_model_progress(self._m, ffi.NULL, 0)
        buf = ffi.new("double[]", 2 * n)
        lib.ssx_model_progress(self._m, buf, n)
        return [(int(buf[2 * i]), buf[2 * i + 1]) for i in range(n)]

    def encode_block(self, tokens):
        tokens = np.ascontiguousarray(tokens, dtype=np.int32)
        out = ffi.new("uint8_t **")
        n = _check(lib.ssx_encode_block(self._m, ffi.from_buffer("int32_t[]", tokens),
                                        len(tokens), out), "encoding failed")
        return bytes(ffi.buffer(out[0], n))

    def decode_block(self, body, n_tokens):
        tokens = np.empty(n_tokens, dtype=np.int32)
        _check(lib.ssx_decode_block(self._m, _as_buffer(body), len(body),
                                    ffi.from_buffer("int32_t[]", tokens), n_tokens),
               "corrupt block")
        return tokens

    # -------------------------------------------------------------- steps
    # The token and body buffers stay referenced here from begin to end: the
    # core reads them in every step.

    def encode_begin(self, tokens):
        self._tokens = np.ascontiguousarray(tokens, dtype=np.int32)
        _check(lib.ssx_encode_begin(self._m, ffi.from_buffer("int32_t[]", self._tokens),
                                    len(self._tokens)), "encoding failed")

    def encode_some(self, max_tokens):
        """Code up to max_tokens more tokens; the number coded, 0 when done."""
        return _check(lib.ssx_encode_some(self._m, max_tokens), "encoding failed")

    def encode_end(self):
        """The block's body."""
        out = ffi.new("uint8_t **")
        n = _check(lib.ssx_encode_end(self._m, out), "encoding failed")
        self._tokens = None
        return bytes(ffi.buffer(out[0], n))

    def decode_begin(self, body, n_tokens):
        self._body = _as_buffer(body)
        self._left = n_tokens
        _check(lib.ssx_decode_begin(self._m, self._body, len(self._body), n_tokens),
               "corrupt block")

    def decode_some(self, max_tokens):
        """Up to max_tokens more tokens (an int32 array); empty when done."""
        n = min(max_tokens, self._left)
        if n <= 0:
            return np.empty(0, dtype=np.int32)
        tokens = np.empty(n, dtype=np.int32)
        n = _check(lib.ssx_decode_some(self._m, ffi.from_buffer("int32_t[]", tokens), n),
                   "corrupt block")
        if n == 0:
            raise StateSMixError("corrupt block: the body ended early")
        self._left -= n
        return tokens[:n]

    def decode_end(self):
        """Check that the body was consumed exactly."""
        try:
            _check(lib.ssx_decode_end(self._m), "corrupt block")
        finally:
            self._body = None


class XXH64:
    """Streaming xxHash64 computed in C."""

    def __init__(self, seed=0):
        self._s = ffi.new("ssx_xxh64 *")
        lib.ssx_xxh64_init(self._s, seed)

    def update(self, data):
        if len(data):
            lib.ssx_xxh64_update(self._s, _as_buffer(data), len(memoryview(data).cast("B")))

    def digest(self):
        return lib.ssx_xxh64_digest(self._s)


def xxh64(data, seed=0):
    h = XXH64(seed)
    h.update(data)
    return h.digest()


def simd_available():
    """The best kernel level of this CPU: 0 scalar, 1 AVX2/FMA, 2 AVX-512."""
    return lib.ssx_simd_available()


def simd_enabled():
    """The kernel level in use (0 = scalar); every level gives the same bits."""
    return lib.ssx_simd_get()


def set_simd(level):
    """Select kernels: False/0 scalar, True the best available, or a level."""
    if level is True:
        level = lib.ssx_simd_available()
    lib.ssx_simd_set(int(level))


def openmp_threads():
    return lib.ssx_openmp_threads()
