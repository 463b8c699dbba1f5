"""One-shot and incremental compression, shaped like the stdlib lzma module."""
from . import container as ct
from .core import XXH64, Model
from .errors import StateSMixError
from .presets import check_memory, model_config, resolve, validate_memory_limit
from .tokenizer import default_vocabulary_id, get_vocabulary

__all__ = ["StateSMixCompressor", "StateSMixDecompressor", "compress", "decompress"]

_LOOKBACK = 4096  # how far back from the block end a cut looks for a newline


def _cut(buf, limit):
    """Where to end a block of at most `limit` bytes: after a newline near the
    end if there is one, else not inside a UTF-8 sequence, else at `limit`."""
    nl = buf.rfind(b"\n", max(0, limit - _LOOKBACK), limit)
    if nl >= 0:
        return nl + 1
    for back in range(4):
        if limit - back > 0 and (buf[limit - back] & 0xC0) != 0x80:
            return limit - back
    return limit


class StateSMixCompressor:
    """Incremental compressor: compress() pieces, then flush() once."""

    def __init__(self, level=None, *, preset=None, threads=None, block_size=None,
                 vocabulary=None, content_size=None, memory_limit=None):
        """`memory_limit` (bytes, None for none): refuse, with StateSMixError,
        a configuration whose memory estimate (presets.memory_estimate) is
        larger."""
        memory_limit = validate_memory_limit(memory_limit)
        self._preset = resolve(level, preset)
        self._vocab = get_vocabulary(default_vocabulary_id() if vocabulary is None
                                     else vocabulary)
        bs = ct.DEFAULT_BLOCK_SIZE if block_size is None else int(block_size)
        if not ct.MIN_BLOCK_SIZE <= bs <= ct.MAX_BLOCK_SIZE:
            raise ValueError("block_size must be between %d and %d"
                             % (ct.MIN_BLOCK_SIZE, ct.MAX_BLOCK_SIZE))
        self._header = ct.Header(self._preset, level or 0, self._vocab.id,
                                 self._vocab.sha256, bs,
                                 model_config(self._preset, self._vocab.size, content_size),
                                 content_size)
        check_memory(self._header.config, bs, memory_limit, "compression")
        self._model = Model(self._header.config)
        self._model.set_vocabulary(self._vocab)
        self._model.set_threads(threads)
        self._buf = bytearray()
        self._hash = XXH64()
        self._total = 0
        self._started = False
        self._finished = False

    def _start(self):
        if self._started:
            return b""
        self._started = True
        return self._header.pack()

    def _block(self, raw):
        tokens = self._vocab.encode(raw)
        if self._vocab.decode(tokens) != raw:
            raise StateSMixError("internal error: tokenization does not round-trip")
        body = self._model.encode_block(tokens)
        self._hash.update(raw)
        self._total += len(raw)
        return ct.pack_block(len(raw), len(tokens), body)

    def _drain(self, final):
        out = []
        bs = self._header.block_size
        while len(self._buf) > bs or (final and self._buf):
            n = _cut(self._buf, bs) if len(self._buf) > bs else len(self._buf)
            raw = bytes(self._buf[:n])
            del self._buf[:n]
            out.append(self._block(raw))
        return b"".join(out)

    def compress(self, data):
        if self._finished:
            raise ValueError("compressor has already been flushed")
        self._buf += memoryview(data).cast("B")
        return self._start() + self._drain(False)

    def flush(self):
        if self._finished:
            raise ValueError("repeated call to flush()")
        self._finished = True
        out = self._start() + self._drain(True)
        size = self._header.content_size
        if size is not None and size != self._total:
            raise StateSMixError("content_size %d given but %d bytes were compressed"
                                 % (size, self._total))
        return out + ct.pack_trailer(self._total, self._hash.digest())

    def stats(self):
        st = self._model.stats()
        st.update(live=self._model.live, input_bytes=self._total,
                  progress=self._model.progress())
        return st


class StateSMixDecompressor:
    """Incremental decompressor of one stream (as lzma.LZMADecompressor)."""

    def __init__(self, *, threads=None, memory_limit=None):
        """`memory_limit` (bytes, None for none): a stream whose header asks
        for more memory (presets.memory_estimate of its configuration and
        block size) raises StateSMixError before its model is created."""
        self._threads = threads
        self._memory_limit = validate_memory_limit(memory_limit)
        self._in = bytearray()
        self._out = bytearray()
        self._header = None
        self._model = None
        self._vocab = None
        self._hash = XXH64()
        self._total = 0
        self._starved = True
        self.eof = False
        self.unused_data = b""

    @property
    def needs_input(self):
        return not self.eof and not self._out and self._starved

    @property
    def header(self):
        return self._header

    def _open(self, header):
        try:
            vocab = get_vocabulary(header.vocab_id)
        except StateSMixError as e:
            raise StateSMixError("stream needs vocabulary %d: %s" % (header.vocab_id, e))
        if vocab.sha256 != header.vocab_sha256:
            raise StateSMixError("vocabulary %d does not match the stream's hash"
                                 % header.vocab_id)
        if header.config["vocab_size"] != vocab.size:
            raise StateSMixError("corrupt stream header (vocabulary size)")
        check_memory(header.config, header.block_size, self._memory_limit,
                     "this stream")
        try:
            self._model = Model(header.config)
        except (OverflowError, TypeError, ValueError):
            # a config field that does not fit the C struct (e.g. >= 2^31)
            raise StateSMixError("corrupt stream header (model configuration)") from None
        self._model.set_vocabulary(vocab)
        self._model.set_threads(self._threads)
        self._vocab = vocab
        self._header = header

    def _step(self):
        """Consume one item from the input; False when more input is needed."""
        buf = self._in
        if self._header is None:
            r = ct.parse_header(buf, 0)
            if r is None:
                return False
            header, pos = r
            self._open(header)
            del buf[:pos]
            return True
        r = ct.parse_block_header(buf, 0, self._header)
        if r is None:
            return False
        (raw_len, n_tokens, body_len), pos = r
        if raw_len == 0:
            t = ct.parse_trailer(buf, pos)
            if t is None:
                return False
            (total, digest), end = t
            if total != self._total or digest != self._hash.digest():
                raise StateSMixError("checksum mismatch: the data is corrupt")
            size = self._header.content_size
            if size is not None and size != total:
                raise StateSMixError("corrupt stream (size in header does not match)")
            self.eof = True
            self.unused_data = bytes(buf[end:])
            del buf[:]
            return True
        if len(buf) < pos + body_len:
            return False
        tokens = self._model.decode_block(memoryview(buf)[pos:pos + body_len], n_tokens)
        data = self._vocab.decode(tokens)
        if len(data) != raw_len:
            raise StateSMixError("corrupt block (decoded %d bytes, expected %d)"
                                 % (len(data), raw_len))
        self._hash.update(data)
        self._total += raw_len
        self._out += data
        del buf[:pos + body_len]
        return True

    def decompress(self, data, max_length=-1):
        if self.eof:
            raise EOFError("already at end of stream")
        self._in += memoryview(data).cast("B")
        self._starved = False
        while not self.eof and (max_length < 0 or len(self._out) < max_length):
            if not self._step():
                self._starved = True
                break
        if max_length < 0 or len(self._out) <= max_length:
            out = bytes(self._out)
            self._out.clear()
        else:
            out = bytes(self._out[:max_length])
            del self._out[:max_length]
        return out

    def stats(self):
        st = self._model.stats() if self._model else {}
        if self._model:
            st.update(live=self._model.live, output_bytes=self._total)
        return st


def compress(data, *, level=None, preset=None, threads=None, block_size=None,
             vocabulary=None, memory_limit=None):
    """Compress bytes-like `data` into one .ssx stream."""
    n = memoryview(data).nbytes
    c = StateSMixCompressor(level, preset=preset, threads=threads, block_size=block_size,
                            vocabulary=vocabulary, content_size=n,
                            memory_limit=memory_limit)
    return c.compress(data) + c.flush()


def decompress(data, *, threads=None, memory_limit=None):
    """Decompress one or more concatenated .ssx streams.  `memory_limit`
    applies to each stream on its own (see StateSMixDecompressor)."""
    data = memoryview(data).cast("B")
    out = []
    validate_memory_limit(memory_limit)
    while True:
        d = StateSMixDecompressor(threads=threads, memory_limit=memory_limit)
        out.append(d.decompress(data))
        if not d.eof:
            raise StateSMixError("compressed data ended before the end of the stream")
        data = d.unused_data
        if not data:
            return b"".join(out)
