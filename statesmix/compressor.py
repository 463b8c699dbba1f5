"""Incremental compression into one .ssx stream (as lzma.LZMACompressor)."""
import threading
from typing import Optional

from . import container as ct
from .core import STEP_TOKENS, XXH64, Model
from .errors import StateSMixError
from .options import (Buffer, byte_view, check_block_size, check_content_size,
                      check_memory_limit, check_threads)
from .presets import (DEFAULT_LEVEL, RECORD_MEMORY_MIN, check_memory, fit_memory, model_config,
                      resolve, shared_work)
from .threads import for_model
from .tokenizer import default_vocabulary_id, get_vocabulary

__all__ = ["StateSMixCompressor"]

_LOOKBACK = 4096  # how far back from the block end a cut looks for a newline


def cut(buf, limit):
    """Where to end a block (or a frame) of at most `limit` bytes: after a
    newline near the end if there is one, else not inside a UTF-8 sequence,
    else at `limit`."""
    nl = buf.rfind(b"\n", max(0, limit - _LOOKBACK), limit)
    if nl >= 0:
        return nl + 1
    for back in range(4):
        if limit - back > 0 and (buf[limit - back] & 0xC0) != 0x80:
            return limit - back
    return limit


def check_total(content_size, total):
    """Raise StateSMixError when a size was announced and `total` bytes,
    another number, were compressed."""
    if content_size is not None and content_size != total:
        raise StateSMixError("content_size %d given but %d bytes were compressed"
                             % (content_size, total))


def open_model(config, vocab, threads):
    """A model for `config` over `vocab`, as encoder and decoder both build
    it; `threads` as threads.for_model gives it."""
    model = Model(config)
    model.set_vocabulary(vocab)
    model.set_threads(threads)
    return model


def plan(level, preset, block_size, vocabulary, content_size, memory_limit, config=None):
    """(vocabulary, header, model configuration) of a stream with these
    settings, every one checked (TypeError, ValueError) and the memory
    estimate against the limit (StateSMixError)."""
    memory_limit = check_memory_limit(memory_limit)
    bs = check_block_size(block_size)
    if level is None and preset is None:
        level = DEFAULT_LEVEL
    preset_id = resolve(level, preset, content_size)
    vocab = get_vocabulary(default_vocabulary_id() if vocabulary is None else vocabulary)
    standard = model_config(preset_id, vocab.size, content_size)
    cfg = dict(standard, **(config or {}))
    if set(cfg) != set(standard):
        raise ValueError("unknown model configuration fields: %s"
                         % ", ".join(sorted(set(cfg) - set(standard))))
    if config is None:
        cfg = fit_memory(cfg, bs, memory_limit, content_size)
    custom = ct.config_bytes(cfg) != ct.config_bytes(standard)
    header = ct.Header(preset_id, level or 0, vocab.id, vocab.sha256, bs,
                       cfg if custom else None, content_size)
    check_memory(cfg, bs, memory_limit, "compression", content_size, compressing=True)
    return vocab, header, cfg


class StateSMixCompressor:
    """Incremental compressor: compress() pieces, then flush() once.

    `level` (1-9; recorded in the header, the default level when neither
    it nor a preset is given) or `preset` (a name of presets.BY_NAME)
    choose the model;
    `block_size` (bytes, 1 KiB .. 16 MiB) how the input is cut; `vocabulary`
    the BPE vocabulary by id.  `content_size`, when given, is recorded in the
    header instead of the trailer (compress() and the command line tool, for
    regular files, do it): the model sizes its tables from it and a decoder
    knows the size from the start; it must equal the bytes compressed.  With
    it the output is identical to compress()'s.
    `memory_limit` (bytes): the tables that grow with the input are made
    smaller until the memory estimate (presets.memory_estimate) fits
    (presets.fit_memory; the stream then carries its configuration); a
    configuration that still does not fit is refused.  `threads` never
    changes the output.
    `config` (experiments) overrides fields of the preset's model
    configuration; the stream then carries the whole configuration.
    `record_memory` reserves a field of the header for the memory the model
    took; after flush(), header() returns the header with it filled in, to
    write over the stream's first bytes (compress() and the command line
    tool do, for a regular output file): a decoder then knows what the
    stream needs rather than what its configuration allows."""

    def __init__(self, level: Optional[int] = None, *, preset: Optional[str] = None,
                 threads: Optional[int] = None, block_size: Optional[int] = None,
                 vocabulary: Optional[int] = None, content_size: Optional[int] = None,
                 memory_limit: Optional[int] = None, config: Optional[dict] = None,
                 record_memory: bool = False) -> None:
        threads = check_threads(threads)
        content_size = check_content_size(content_size)
        self._vocab, self._header, cfg = plan(level, preset, block_size, vocabulary,
                                              content_size, memory_limit, config)
        self._started = False
        if record_memory:
            self.reserve_memory()
        self._model = open_model(cfg, self._vocab,
                                 for_model(threads, content_size, shared_work(cfg)))
        self._buf = bytearray()
        self._hash = XXH64()
        self._total = 0
        self._finished = False
        self._lock = threading.Lock()    # one caller at a time in the model, as lzma's

    def reserve_memory(self) -> None:
        """record_memory=True decided late: before any output (a file
        learns only once open whether it can go back to its header)."""
        if self._started:
            raise ValueError("the header has already been written")
        if self._header.memory is None:
            self._header = self._header.with_memory(0)

    def _start(self):
        if self._started:
            return b""
        self._started = True
        return self._header.pack()

    def _block(self, raw):
        tokens = self._vocab.encode(raw)
        if self._vocab.decode(tokens) != raw:
            raise StateSMixError("internal error: tokenization does not round-trip")
        self._model.encode_begin(tokens)
        while self._model.encode_some(STEP_TOKENS):    # signals are handled between steps
            pass
        body = self._model.encode_end()
        self._hash.update(raw)
        self._total += len(raw)
        coded = ct.pack_block(len(raw), len(tokens), body)
        stored = ct.pack_stored(raw, len(tokens))
        # the model has learned the tokens either way; the decoder of a
        # stored block tokenizes it and runs the encoder to follow
        return stored if len(stored) < len(coded) else coded

    def _drain(self, final):
        out = []
        bs = self._header.block_size
        while len(self._buf) > bs or (final and self._buf):
            n = cut(self._buf, bs) if len(self._buf) > bs else len(self._buf)
            raw = bytes(self._buf[:n])
            del self._buf[:n]
            out.append(self._block(raw))
        return b"".join(out)

    def compress(self, data: Buffer) -> bytes:
        """Compress a bytes-like object; the stream bytes ready so far."""
        with byte_view(data) as view, self._lock:
            if self._finished:
                raise ValueError("compressor has already been flushed")
            self._buf += view
            return self._start() + self._drain(False)

    def flush(self) -> bytes:
        """Finish the stream; the rest of its bytes."""
        with self._lock:
            if self._finished:
                raise ValueError("repeated call to flush()")
            self._finished = True
            return self._finish()

    def _finish(self):
        out = self._start() + self._drain(True)
        check_total(self._header.content_size, self._total)
        return out + ct.pack_trailer(self._header, self._total, self._hash.digest())

    def header(self) -> bytes:
        """The stream header; after flush(), with the memory the model took
        when the field was reserved (record_memory), as long as the header
        flush() wrote."""
        h = self._header
        if self._finished and h.memory is not None:
            h = h.with_memory(self._model.memory())
        return h.pack()

    def stats(self) -> dict:
        """The model's running totals (ssx_stats), the live vocabulary, the
        input bytes coded and the code length every 8,192 tokens."""
        st = self._model.stats()
        st.update(live=self._model.live, input_bytes=self._total,
                  progress=self._model.progress())
        return st

    def __reduce__(self):
        raise TypeError("cannot pickle %s objects" % type(self).__name__)


def compress_stream(data, **settings):
    """(The whole of `data` as one stream that records its size, and from
    RECORD_MEMORY_MIN bytes on the memory its model took, the compressor
    after flush)."""
    c = StateSMixCompressor(content_size=len(data), **settings,
                            record_memory=len(data) >= RECORD_MEMORY_MIN)
    body = c.compress(data) + c.flush()
    head = c.header()
    return head + body[len(head):], c
