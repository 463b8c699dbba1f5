"""The .ssx container: stream header, block headers, trailer (docs/format.md).

Every parser here takes a buffer and a position and returns (value,
new_position), or None when the buffer does not yet hold the whole item;
invalid data raises StateSMixError as soon as the bytes that prove it are
there, before anything is allocated from it.  Version 2 is written; versions
1 and 2 are read.
"""
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

# Header flags.  Version 1 knows FLAG_SIZE only (a u64 content size);
# version 2 keeps the flags in the low four bits of byte 5 and the level in
# the high four.
FLAG_SIZE = 1                   # the content size follows
FLAG_BLOCK = 2                  # v2: a block size follows (else the default)
FLAG_CONFIG = 4                 # v2: the model configuration follows (else the preset's)
_FLAGS = {1: FLAG_SIZE, 2: FLAG_SIZE | FLAG_BLOCK | FLAG_CONFIG}

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
    its first VOCAB_HASH_LEN bytes."""
    preset: int
    level: int
    vocab_id: int
    vocab_hash: bytes
    block_size: int = DEFAULT_BLOCK_SIZE
    config: Optional[dict] = None
    content_size: Optional[int] = None
    version: int = VERSION

    def pack(self):
        """The header in format version 2."""
        flags = ((FLAG_SIZE if self.content_size is not None else 0)
                 | (FLAG_BLOCK if self.block_size != DEFAULT_BLOCK_SIZE else 0)
                 | (FLAG_CONFIG if self.config is not None else 0))
        out = bytearray(MAGIC)
        out += bytes((VERSION, flags | self.level << 4, self.preset))
        out += pack_varint(self.vocab_id) + self.vocab_hash[:VOCAB_HASH_LEN]
        if flags & FLAG_BLOCK:
            out += pack_varint(self.block_size)
        if flags & FLAG_SIZE:
            out += pack_varint(self.content_size)
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
                  content_size, 2), end


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


# ---------------------------------------------------------------- walking

_PEEK = 64     # more than any block header; headers are read in as many pieces as needed


def walk(f):
    """The streams of a seekable binary file, from the container structure
    only (no decoding and no allocation from the lengths it reads):
    [{"header", "blocks", "stored", "size", "compressed"}]."""
    f.seek(0, 2)
    end = f.tell()
    if end == 0:
        raise StateSMixError("not a statesmix stream (empty input)")
    streams = []
    pos = 0
    while pos < end:
        start = pos
        header, pos = _read_item(f, pos, lambda b: parse_header(b, 0), "stream header")
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
        streams.append({"header": header, "blocks": blocks, "stored": stored, "size": raw,
                        "compressed": pos - start})
    return streams


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
