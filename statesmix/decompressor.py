"""Incremental decompression of one .ssx stream (as lzma.LZMADecompressor).

The decompressor is a small state machine over its input buffer: stream
header, then per block the block header and its body, the body's tokens
decoded a step at a time (so output comes out as it is decoded and a
max_length bounds the work done), and the trailer.
"""
import threading
from typing import Optional

from . import container as ct
from .compressor import open_model
from .core import STEP_TOKENS, XXH64
from .errors import StateSMixError
from .options import Buffer, byte_view, check_max_length, check_memory_limit, check_threads
from .presets import check_memory, shared_work, stream_config
from .threads import for_model
from .tokenizer import get_vocabulary

__all__ = ["StateSMixDecompressor"]

_HEADER, _BLOCK, _TOKENS, _FOLLOW, _TRAILER, _EOF = range(6)


class StateSMixDecompressor:
    """Decompressor of one stream: decompress() pieces of it in order.

    As lzma.LZMADecompressor: `max_length` bounds the bytes one call
    returns, `needs_input` says whether it wants more input, `eof` is set
    at the end of the stream and what followed it is in `unused_data`.
    Decoded bytes are returned before the stream's checksum is seen (the
    end of the stream checks it).  After an error the object only raises.

    `memory_limit` (bytes): a stream whose header asks for more memory
    (presets.memory_estimate of its configuration and block size) raises
    StateSMixError before its model is built.  `threads` never changes the
    output."""

    def __init__(self, *, threads: Optional[int] = None,
                 memory_limit: Optional[int] = None) -> None:
        self._threads = check_threads(threads)
        self._memory_limit = check_memory_limit(memory_limit)
        self._in = bytearray()
        self._out = bytearray()
        self._stage = _HEADER
        self._header = None
        self._model = None
        self._vocab = None
        self._block = None
        self._block_out = 0
        self._hash = XXH64()
        self._total = 0
        self._starved = True
        self._failed = None
        self._unused = b""
        self._final = {}
        self._lock = threading.Lock()    # one caller at a time in the model, as lzma's

    @property
    def eof(self) -> bool:
        return self._stage == _EOF

    @property
    def unused_data(self) -> bytes:
        return self._unused

    @property
    def needs_input(self) -> bool:
        return self._stage != _EOF and not self._out and self._starved

    @property
    def header(self) -> Optional[ct.Header]:
        """The stream's container.Header once it has been read, else None."""
        return self._header

    def decompress(self, data: Buffer, max_length: int = -1) -> bytes:
        """Decompress `data` (a bytes-like object) after the input given
        before; at most `max_length` bytes when it is not negative."""
        max_length = check_max_length(max_length)
        with byte_view(data) as view, self._lock:
            if self._failed:
                raise StateSMixError("the decompressor failed earlier: %s" % self._failed)
            if self._stage == _EOF:
                raise EOFError("already at the end of the stream")
            self._in += view
            return self._run(max_length)

    def _run(self, max_length):
        self._starved = False
        try:
            while self._stage != _EOF and (max_length < 0 or len(self._out) < max_length):
                want = -1 if max_length < 0 else max_length - len(self._out)
                if not self._step(want):
                    self._starved = True
                    break
        except BaseException as e:
            self._failed = str(e) or type(e).__name__
            raise
        n = len(self._out) if max_length < 0 else min(max_length, len(self._out))
        out = bytes(self._out[:n])
        del self._out[:n]
        return out

    # ------------------------------------------------------------ stages

    def _step(self, want):
        """One piece of work; False when more input is needed.  `want`: the
        output bytes still wanted (-1: all there is)."""
        if self._stage == _HEADER:
            return self._read_header()
        if self._stage == _BLOCK:
            return self._read_block()
        if self._stage == _TOKENS:
            self._decode_tokens(want)
        elif self._stage == _FOLLOW:
            if not self._model.encode_some(STEP_TOKENS):
                self._model.encode_end()
                self._stage = _BLOCK
            self._check_held()
        else:
            return self._read_trailer()
        return True

    def _read_header(self):
        r = ct.parse_header(self._in, 0)
        if r is None:
            return False
        header, pos = r
        try:
            vocab = get_vocabulary(header.vocab_id)
        except StateSMixError as e:
            raise StateSMixError("stream needs vocabulary %d: %s" % (header.vocab_id, e))
        if not vocab.sha256.startswith(header.vocab_hash):
            raise StateSMixError("vocabulary %d does not match the stream's hash"
                                 % header.vocab_id)
        config = stream_config(header, vocab.size)
        if config["vocab_size"] != vocab.size:
            raise StateSMixError("corrupt stream header (vocabulary size)")
        check_memory(config, header.block_size, self._memory_limit, "this stream",
                     header.content_size, model_memory=header.memory)
        try:
            self._model = open_model(config, vocab,
                                     for_model(self._threads, header.content_size,
                                               shared_work(config)))
        except (OverflowError, TypeError, ValueError):
            # a config field that does not fit the C struct (e.g. >= 2^31)
            raise StateSMixError("corrupt stream header (model configuration)") from None
        self._vocab = vocab
        self._header = header
        del self._in[:pos]
        self._stage = _BLOCK
        return True

    def _read_block(self):
        r = ct.parse_block_header(self._in, 0, self._header, self._vocab.size)
        if r is None:
            return False
        block, pos = r
        if block == ct.END:
            del self._in[:pos]
            self._stage = _TRAILER
            return True
        end = pos + block.size
        if len(self._in) < end:
            return False
        payload = bytes(self._in[pos:end])
        del self._in[:end]
        self._block = block
        if block.stored:
            # the bytes are here; the model still learns their tokens, as
            # the encoder's did
            tokens = self._vocab.encode(payload)
            if len(tokens) != block.n_tokens:
                raise StateSMixError(
                    "stored block tokenizes to %d tokens here, the stream says %d (a "
                    "different tokenizers version?)" % (len(tokens), block.n_tokens))
            self._emit(payload)
            self._model.encode_begin(tokens)
            self._stage = _FOLLOW
        else:
            self._model.decode_begin(payload, block.n_tokens)
            self._block_out = 0
            self._stage = _TOKENS
        return True

    def _decode_tokens(self, want):
        # every token is at least one byte: `want` tokens are enough
        tokens = self._model.decode_some(STEP_TOKENS if want < 0
                                         else max(1, min(want, STEP_TOKENS)))
        self._check_held()
        if len(tokens):
            data = self._vocab.decode(tokens)
            self._block_out += len(data)
            if self._block_out > self._block.raw_len:
                raise StateSMixError("corrupt block (more than the %d bytes announced)"
                                     % self._block.raw_len)
            self._emit(data)
            return
        self._model.decode_end()
        if self._block_out != self._block.raw_len:
            raise StateSMixError("corrupt block (decoded %d bytes, expected %d)"
                                 % (self._block_out, self._block.raw_len))
        self._stage = _BLOCK

    def _check_held(self):
        # a stream that records its model's memory may not take more: a
        # forged figure cannot take a decoder past its memory limit
        need = self._header.memory
        if need and self._model.memory() > need:
            raise StateSMixError("corrupt stream (its model takes more memory than its "
                                 "header records)")

    def _emit(self, data):
        self._hash.update(data)
        self._total += len(data)
        self._out += data

    def _read_trailer(self):
        r = ct.parse_trailer(self._in, 0, self._header)
        if r is None:
            return False
        (total, digest), end = r
        size = self._header.content_size
        if total != self._total or (size is not None and size != total):
            raise StateSMixError("corrupt stream (its size does not match the data)")
        if digest != self._hash.digest():
            raise StateSMixError("checksum mismatch: the data is corrupt")
        self._unused = bytes(self._in[end:])
        self._in.clear()
        self._final = self.stats()
        self._model = None        # its memory goes now; stats() keeps the totals
        self._stage = _EOF
        return True

    def stats(self) -> dict:
        """The model's running totals (ssx_stats), the live vocabulary and
        the output bytes; empty before the header."""
        if self._model is None:
            return dict(self._final)
        st = self._model.stats()
        st.update(live=self._model.live, output_bytes=self._total)
        return st

    def __reduce__(self):
        raise TypeError("cannot pickle %s objects" % type(self).__name__)
