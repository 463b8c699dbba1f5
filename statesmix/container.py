"""The .ssx container: stream header, block headers, trailer, frame index
(docs/format.md).

Every parser here takes a buffer and a position and returns (value,
new_position), or None when the buffer does not yet hold the whole item;
invalid data raises StateSMixError as soon as the bytes that prove it are
there, before anything is allocated from it.  Version 2 is written; versions
1 and 2 are read.
"""
import dataclasses
import struct
from dataclasses import dataclass
from typing import NamedTuple, Optional

from .core import CONFIG_FIELDS, config_types, default_config, xxh64
from .errors import StateSMixError

MAGIC = b"\x89SSX"
VERSION = 2
MAX_BLOCK_SIZE = 1 << 24
MIN_BLOCK_SIZE = 1 << 10
DEFAULT_BLOCK_SIZE = 1 << 20
VOCAB_HASH_LEN = 4              # version 2: leading bytes of the vocabulary's SHA-256

# The frame index (section 7 of docs/format.md).  Its magic differs from a
# stream's, so a reader that does not know it stops there, as at any data
# after the last stream.
INDEX_MAGIC = b"\x89SSI"
INDEX_VERSION = 1
MAX_INDEX_FRAMES = 1 << 20      # a writer with more frames writes no index
# A frame is a stream of its own that a worker codes whole, in memory.
MIN_FRAME_SIZE = MIN_BLOCK_SIZE
MAX_FRAME_SIZE = 1 << 28

# Header flags.  Version 1 knows FLAG_SIZE only (a u64 content size);
# version 2 keeps the flags in the low four bits of byte 5 and the level in
# the high four.
FLAG_SIZE = 1                   # the content size follows
FLAG_BLOCK = 2                  # v2: a block size follows (else the default)
FLAG_CONFIG = 4                 # v2: the model configuration follows (else the preset's)
FLAG_MEMORY = 8                 # v2: the memory the model took follows (u32, KiB)
_FLAGS = {1: FLAG_SIZE, 2: FLAG_SIZE | FLAG_BLOCK | FLAG_CONFIG | FLAG_MEMORY}
_MEMORY = struct.Struct("<I")

# The configuration on disk: the C struct's fields in order, every integer
# as a u32 (a value the C field cannot hold is refused when the model is
# built), floats as f32.
_CODES = {"int32_t": "I", "uint32_t": "I", "float": "f"}
_CONFIG = struct.Struct("<" + "".join(_CODES[config_types()[k]] for k in CONFIG_FIELDS))
_FIELD = 4
assert _CONFIG.size == _FIELD * len(CONFIG_FIELDS)
# The shortest configuration on disk: version-1 streams written before
# train_steps existed (their SSM took 2 steps); before cm_bits existed,
# streams had nine fields (their value: 22, which only the token tree reads).
_MIN_FIELDS = 8
_V1_SHORT = {"train_steps": 2, "cm_bits": 22}

_V1_FIXED = struct.Struct("<4sBBBBH32sIH")
_V1_TRAILER = struct.Struct("<QQ")
_DIGEST = struct.Struct("<Q")


class _Incomplete(Exception):
    """The buffer ends inside the item being parsed."""


@dataclass
class Header:
    """A stream header.  `config` is None for a standard preset (version 2:
    the preset's configuration for the vocabulary's size, presets.model_config);
    `vocab_hash` is the recorded SHA-256 of the vocabulary or (version 2)
    its first VOCAB_HASH_LEN bytes.  `memory` (version 2, optional): the
    bytes the model held at the end of the stream as the encoder measured
    them (core.Model.memory), in whole KiB; 0 reserves the field for a
    writer that fills it in when done (with_memory), and reads as unknown."""
    preset: int
    level: int
    vocab_id: int
    vocab_hash: bytes
    block_size: int = DEFAULT_BLOCK_SIZE
    config: Optional[dict] = None
    content_size: Optional[int] = None
    version: int = VERSION
    memory: Optional[int] = None

    def with_memory(self, nbytes):
        """This header recording `nbytes` of model memory (rounded up to
        KiB; packs to the same length as with memory=0)."""
        kib = min(-(-int(nbytes) // 1024), 0xFFFFFFFF)
        return dataclasses.replace(self, memory=kib * 1024)

    def pack(self):
        """The header in format version 2."""
        flags = ((FLAG_SIZE if self.content_size is not None else 0)
                 | (FLAG_BLOCK if self.block_size != DEFAULT_BLOCK_SIZE else 0)
                 | (FLAG_CONFIG if self.config is not None else 0)
                 | (FLAG_MEMORY if self.memory is not None else 0))
        out = bytearray(MAGIC)
        out += bytes((VERSION, flags | self.level << 4, self.preset))
        out += pack_varint(self.vocab_id) + self.vocab_hash[:VOCAB_HASH_LEN]
        if flags & FLAG_BLOCK:
            out += pack_varint(self.block_size)
        if flags & FLAG_SIZE:
            out += pack_varint(self.content_size)
        if flags & FLAG_MEMORY:
            out += _MEMORY.pack(-(-self.memory // 1024))
        if flags & FLAG_CONFIG:
            out += bytes((_CONFIG.size,)) + config_bytes(self.config)
        return bytes(out) + struct.pack("<H", _check16(out))


def config_bytes(config):
    """A model configuration as stored (comparing these bytes compares
    configurations as the core sees them, floats rounded to f32)."""
    return _CONFIG.pack(*(config[k] for k in CONFIG_FIELDS))


def _check16(data):
    return xxh64(bytes(data)) & 0xFFFF


def _check_cfg_len(cfg_len):
    if cfg_len % _FIELD or not _MIN_FIELDS * _FIELD <= cfg_len <= _CONFIG.size:
        raise StateSMixError("bad model configuration length %d" % cfg_len)


def _config_from(buf, pos, cfg_len, version):
    _check_cfg_len(cfg_len)
    n = cfg_len // _FIELD
    values = struct.unpack_from(_CONFIG.format[:1 + n], buf, pos)
    config = default_config()
    if version == 1:
        config.update(_V1_SHORT)
    config.update(zip(CONFIG_FIELDS, values))
    return config


def _check_level(level):
    if level > 9:
        raise StateSMixError("bad level %d" % level)


def _check_block_size(block_size):
    if not MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE:
        raise StateSMixError("bad block size %d" % block_size)


def parse_header(buf, pos=0, check=True):
    """Parse a stream header at buf[pos:]; None if incomplete.  check=False
    skips the header's own checksum (repair_header_check)."""
    avail = len(buf) - pos
    head = bytes(buf[pos:pos + min(avail, len(MAGIC))])
    if head != MAGIC[:len(head)]:
        raise StateSMixError("not a statesmix stream (bad magic)")
    if avail <= len(MAGIC):
        return None
    version = buf[pos + 4]
    if version not in _FLAGS:
        raise StateSMixError("unsupported format version %d (this build reads 1 and 2)"
                             % version)
    try:
        return (_parse_v1 if version == 1 else _parse_v2)(buf, pos, check)
    except _Incomplete:
        return None


def repair_header_check(data):
    """`data` with the checksum of the stream header it starts with made
    right, when the rest of the header parses (fuzzing: lets mutated header
    fields reach the decoder instead of all failing the check)."""
    try:
        r = parse_header(data, 0, check=False)
    except StateSMixError:
        return data
    if r is None:
        return data
    end = r[1]
    n = 4 if r[0].version == 1 else 2
    check = xxh64(bytes(data[:end - n])) & (0xFFFFFFFF if n == 4 else 0xFFFF)
    return bytes(data[:end - n]) + check.to_bytes(n, "little") + bytes(data[end:])


def _parse_v1(buf, pos, check):
    if len(buf) - pos < _V1_FIXED.size:
        raise _Incomplete
    _, _, flags, preset, level, vocab_id, sha, block_size, cfg_len = \
        _V1_FIXED.unpack_from(buf, pos)
    if flags & ~_FLAGS[1]:
        raise StateSMixError("unknown header flags 0x%02x" % flags)
    _check_cfg_len(cfg_len)
    _check_block_size(block_size)
    _check_level(level)
    end = pos + _V1_FIXED.size + cfg_len + (8 if flags & FLAG_SIZE else 0) + 4
    if len(buf) < end:
        raise _Incomplete
    if check and struct.unpack_from("<I", buf, end - 4)[0] != \
            xxh64(bytes(buf[pos:end - 4])) & 0xFFFFFFFF:
        raise StateSMixError("corrupt stream header (checksum mismatch)")
    config = _config_from(buf, pos + _V1_FIXED.size, cfg_len, 1)
    content_size = None
    if flags & FLAG_SIZE:
        (content_size,) = struct.unpack_from("<Q", buf, pos + _V1_FIXED.size + cfg_len)
    return Header(preset, level, vocab_id, sha, block_size, config, content_size, 1), end


def _parse_v2(buf, pos, check):
    def byte(p):
        if p >= len(buf):
            raise _Incomplete
        return buf[p]

    def varint(p):
        r = parse_varint(buf, p, "stream header")
        if r is None:
            raise _Incomplete
        return r

    flags, level = byte(pos + 5) & 0xF, byte(pos + 5) >> 4
    if flags & ~_FLAGS[2]:
        raise StateSMixError("unknown header flags 0x%x" % flags)
    _check_level(level)
    preset = byte(pos + 6)
    vocab_id, p = varint(pos + 7)
    if vocab_id > 0xFFFF:
        raise StateSMixError("bad vocabulary id %d" % vocab_id)
    p += VOCAB_HASH_LEN
    vocab_hash = bytes(buf[p - VOCAB_HASH_LEN:p])
    block_size = DEFAULT_BLOCK_SIZE
    if flags & FLAG_BLOCK:
        block_size, p = varint(p)
        _check_block_size(block_size)
    content_size = None
    if flags & FLAG_SIZE:
        content_size, p = varint(p)
    memory = None
    if flags & FLAG_MEMORY:
        if len(buf) < p + _MEMORY.size:
            raise _Incomplete
        memory = _MEMORY.unpack_from(buf, p)[0] * 1024 or None
        p += _MEMORY.size
    config = None
    if flags & FLAG_CONFIG:
        cfg_len = byte(p)
        _check_cfg_len(cfg_len)
        p += 1 + cfg_len
    end = p + 2
    if len(buf) < end:
        raise _Incomplete
    if check and struct.unpack_from("<H", buf, p)[0] != _check16(buf[pos:p]):
        raise StateSMixError("corrupt stream header (checksum mismatch)")
    if flags & FLAG_CONFIG:
        config = _config_from(buf, p - cfg_len, cfg_len, 2)
    return Header(preset, level, vocab_id, vocab_hash, block_size, config,
                  content_size, 2, memory), end


# ---------------------------------------------------------------- numbers

def pack_varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def parse_varint(buf, pos, what="block header"):
    """Unsigned LEB128 of at most 9 bytes; None if incomplete."""
    v = shift = 0
    for i in range(9):
        if pos + i >= len(buf):
            return None
        c = buf[pos + i]
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            if c == 0 and i > 0:
                raise StateSMixError("corrupt %s (non-canonical number)" % what)
            return v, pos + i + 1
        shift += 7
    raise StateSMixError("corrupt %s (number too long)" % what)


# ---------------------------------------------------------------- blocks

class Block(NamedTuple):
    """A block header: body_len 0 is a stored block (version 2), whose
    raw_len original bytes follow as they are; raw_len 0 is the end marker."""
    raw_len: int
    n_tokens: int
    body_len: int

    @property
    def stored(self):
        return self.body_len == 0

    @property
    def size(self):
        """The bytes that follow the block header."""
        return self.raw_len if self.stored else self.body_len


END = Block(0, 0, 0)


def pack_block(raw_len, n_tokens, body):
    return pack_varint(raw_len) + pack_varint(n_tokens) + pack_varint(len(body)) + body


def pack_stored(raw, n_tokens):
    return pack_varint(len(raw)) + pack_varint(n_tokens) + pack_varint(0) + raw


def max_body_len(n_tokens, vocab_size):
    """An upper bound on a valid block body: at most 31 bits a token, at most
    a few bytes per announced token, plus constant overhead."""
    return 64 + 4 * n_tokens + 4 * min(n_tokens, vocab_size) + vocab_size // 8


def parse_block_header(buf, pos, header, vocab_size=None):
    """The next Block (END for the end marker); None if incomplete.  With
    the vocabulary's size, a body longer than any valid one is refused."""
    r = parse_varint(buf, pos)
    if r is None:
        return None
    raw_len, p = r
    if raw_len == 0:
        return END, p
    if raw_len > header.block_size:
        raise StateSMixError("corrupt block header (block of %d bytes exceeds %d)"
                             % (raw_len, header.block_size))
    r = parse_varint(buf, p)
    if r is None:
        return None
    n_tokens, p = r
    if not 1 <= n_tokens <= raw_len:
        raise StateSMixError("corrupt block header (%d tokens for %d bytes)"
                             % (n_tokens, raw_len))
    r = parse_varint(buf, p)
    if r is None:
        return None
    body_len, p = r
    stored = body_len == 0 and header.version >= 2
    if not stored and (body_len < 8 or vocab_size is not None
                       and body_len > max_body_len(n_tokens, vocab_size)):
        raise StateSMixError("corrupt block header (body length %d)" % body_len)
    return Block(raw_len, n_tokens, body_len), p


# ---------------------------------------------------------------- trailer

def pack_trailer(header, total, digest):
    """The end marker and the trailer: version 2 records the total only when
    the header has no content size."""
    out = pack_varint(0)
    if header.content_size is None:
        out += pack_varint(total)
    return out + _DIGEST.pack(digest)


def parse_trailer(buf, pos, header):
    """(total, xxh64) after the end marker; None if incomplete.  The total
    is the header's content size where the trailer does not repeat it."""
    if header.version == 1:
        if len(buf) - pos < _V1_TRAILER.size:
            return None
        return _V1_TRAILER.unpack_from(buf, pos), pos + _V1_TRAILER.size
    total = header.content_size
    if total is None:
        r = parse_varint(buf, pos, "stream trailer")
        if r is None:
            return None
        total, pos = r
    if len(buf) - pos < _DIGEST.size:
        return None
    return (total, _DIGEST.unpack_from(buf, pos)[0]), pos + _DIGEST.size


# ---------------------------------------------------------------- index

# after the entries: the index's own length, the XXH64 of every index byte
# before it, the magic again (found from the end of a file)
_INDEX_TAIL = struct.Struct("<IQ4s")
_INDEX_MIN = len(INDEX_MAGIC) + 1 + 1 + _INDEX_TAIL.size


class FrameEntry(NamedTuple):
    """One frame (one stream) of an index: its original and compressed bytes."""
    raw_len: int
    compressed_len: int


def pack_index(entries):
    """The index of the frames (FrameEntry or pairs) just written."""
    out = bytearray(INDEX_MAGIC)
    out.append(INDEX_VERSION)
    out += pack_varint(len(entries))
    for raw_len, compressed_len in entries:
        out += pack_varint(raw_len) + pack_varint(compressed_len)
    out += struct.pack("<I", len(out) + _INDEX_TAIL.size)
    return bytes(out) + _DIGEST.pack(xxh64(bytes(out))) + INDEX_MAGIC


def parse_index(buf, pos=0, max_frames=MAX_INDEX_FRAMES):
    """The [FrameEntry] of the index at buf[pos:] and where it ends; None if
    incomplete.  A damaged index raises StateSMixError; one of more than
    `max_frames` frames too (a reader knows how many streams it may describe)."""
    def varint(p):
        r = parse_varint(buf, p, "frame index")
        if r is None:
            raise _Incomplete
        return r

    head = bytes(buf[pos:pos + len(INDEX_MAGIC)])
    if head != INDEX_MAGIC[:len(head)]:
        raise StateSMixError("not a frame index (bad magic)")
    try:
        if len(buf) - pos <= len(INDEX_MAGIC):
            raise _Incomplete
        if buf[pos + len(INDEX_MAGIC)] != INDEX_VERSION:
            raise StateSMixError("unknown frame index version %d" % buf[pos + len(INDEX_MAGIC)])
        n, p = varint(pos + len(INDEX_MAGIC) + 1)
        if not 1 <= n <= min(max_frames, MAX_INDEX_FRAMES):
            raise StateSMixError("corrupt frame index (%d frames)" % n)
        entries = []
        for _ in range(n):
            raw_len, p = varint(p)
            compressed_len, p = varint(p)
            entries.append(FrameEntry(raw_len, compressed_len))
        if len(buf) < p + _INDEX_TAIL.size:
            raise _Incomplete
    except _Incomplete:
        return None
    size, check, magic = _INDEX_TAIL.unpack_from(buf, p)
    end = p + _INDEX_TAIL.size
    if size != end - pos or magic != INDEX_MAGIC or \
            check != xxh64(bytes(buf[pos:p + 4])):
        raise StateSMixError("corrupt frame index (checksum mismatch)")
    return entries, end


INDEX_TAIL_SIZE = _INDEX_TAIL.size


def index_size(tail):
    """The length of the index that ends with `tail` (its last
    INDEX_TAIL_SIZE bytes); None if they do not end an index."""
    if len(tail) != _INDEX_TAIL.size:
        return None
    size, _, magic = _INDEX_TAIL.unpack(tail)
    return size if magic == INDEX_MAGIC and size >= _INDEX_MIN else None


def check_index(entries, streams):
    """Raise StateSMixError unless the index `entries` describes the last
    streams of `streams` ([(raw_len, compressed_len)], those after the
    previous index): an index describes the streams right before it."""
    last = streams[len(streams) - len(entries):]
    if len(entries) > len(streams) or [tuple(e) for e in entries] != [tuple(s) for s in last]:
        raise StateSMixError("the frame index does not match the streams before it")


# ---------------------------------------------------------------- walking

_PEEK = 64     # more than any block header; headers are read in as many pieces as needed


class Layout(NamedTuple):
    """What walk() found in a file."""
    streams: list           # {"offset", "header", "blocks", "stored", "size", "compressed"}
    indexes: list           # (offset, frames) of every index, each checked
    damaged_index: Optional[int]   # where a damaged index ended the walk
    trailing: Optional[int]        # where data that is not a stream ended it


def walk(f, start=0):
    """The streams and indexes of a seekable binary file from `start`, from
    the container structure only (no decoding and no allocation from the
    lengths it reads), with the reader's rules: after a stream, data that
    is not a stream ends the file (an index that does not describe the
    streams before it too); a damaged stream raises StateSMixError."""
    end = f.seek(0, 2)
    if end <= start:
        raise StateSMixError("not a statesmix stream (empty input)")
    streams, indexes, recent = [], [], []
    damaged = trailing = None
    pos = start
    while pos < end:
        f.seek(pos)
        head = f.read(len(MAGIC))
        if streams and head != MAGIC[:len(head)]:
            if head != INDEX_MAGIC[:len(head)]:
                trailing = pos
                break
            try:
                entries, after = _read_item(f, pos, lambda b: parse_index(b, 0, len(recent)),
                                            "frame index")
                check_index(entries, recent)
            except StateSMixError:
                damaged = pos
                break
            indexes.append((pos, len(entries)))
            recent = []
            pos = after
            continue
        stream = _walk_stream(f, pos, end)
        streams.append(stream)
        recent.append((stream["size"], stream["compressed"]))
        pos += stream["compressed"]
    return Layout(streams, indexes, damaged, trailing)


def _walk_stream(f, start, end):
    header, pos = _read_item(f, start, lambda b: parse_header(b, 0), "stream header")
    blocks = stored = raw = 0
    while True:
        block, pos = _read_item(f, pos, lambda b: parse_block_header(b, 0, header),
                                "block header")
        if block == END:
            break
        pos += block.size
        if pos > end:
            raise StateSMixError("truncated block")
        blocks += 1
        stored += block.stored
        raw += block.raw_len
    (total, _), pos = _read_item(f, pos, lambda b: parse_trailer(b, 0, header),
                                 "stream trailer")
    if total != raw or (header.content_size is not None and header.content_size != total):
        raise StateSMixError("corrupt stream (sizes do not add up)")
    return {"offset": start, "header": header, "blocks": blocks, "stored": stored,
            "size": raw, "compressed": pos - start}


def _read_item(f, pos, parse, what):
    """parse() of the bytes at pos, reading more until it has enough."""
    want = _PEEK
    while True:
        f.seek(pos)
        buf = f.read(want)
        r = parse(buf)
        if r is not None:
            return r[0], pos + r[1]
        if len(buf) < want:
            raise StateSMixError("truncated %s" % what)
        want *= 4
