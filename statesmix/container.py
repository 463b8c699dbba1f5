"""The .ssx container: stream header, block headers and trailer.

See docs/format.md.  Every parser here takes a buffer and a position and
returns (value, new_position), or None when the buffer does not yet hold the
whole item; invalid data raises StateSMixError before anything is allocated
from it.
"""
import struct
from dataclasses import dataclass
from typing import Optional

from .core import xxh64
from .errors import StateSMixError

MAGIC = b"\x89SSX"
VERSION = 1
FLAG_SIZE = 1
KNOWN_FLAGS = FLAG_SIZE
MAX_BLOCK_SIZE = 1 << 24
MIN_BLOCK_SIZE = 1 << 10
DEFAULT_BLOCK_SIZE = 1 << 20
MAX_VOCAB = 1 << 22

_FIXED = struct.Struct("<4sBBBBH32sIH")
_CONFIG = struct.Struct("<IIfIIffIIi")
_CONFIG_KEYS = ("components", "vocab_size", "count_scale", "seed", "chunk", "lr",
                "label_smooth", "ngram_mem_mb", "train_steps", "cm_bits")
# Streams written before cm_bits existed have nine fields.
_CONFIG_36 = struct.Struct("<IIfIIffII")
# Streams written before train_steps existed have the first eight fields;
# their SSM took the published 2 steps.
_CONFIG_OLD = struct.Struct("<IIfIIffI")
_OLD_DEFAULTS = {"train_steps": 2, "cm_bits": 22}
_TRAILER = struct.Struct("<QQ")


@dataclass
class Header:
    preset: int
    level: int
    vocab_id: int
    vocab_sha256: bytes
    block_size: int
    config: dict
    content_size: Optional[int] = None

    def pack(self):
        flags = FLAG_SIZE if self.content_size is not None else 0
        # cm_bits only matters to the token tree: other models keep the
        # 36-byte layout, so their streams stay byte for byte as before
        layout = _CONFIG if self.config["components"] & 1024 else _CONFIG_36
        cfg = layout.pack(*(self.config[k] for k in _CONFIG_KEYS[:len(layout.format) - 1]))
        out = _FIXED.pack(MAGIC, VERSION, flags, self.preset, self.level, self.vocab_id,
                          self.vocab_sha256, self.block_size, len(cfg)) + cfg
        if self.content_size is not None:
            out += struct.pack("<Q", self.content_size)
        return out + struct.pack("<I", xxh64(out) & 0xFFFFFFFF)


def parse_header(buf, pos=0):
    """Parse a stream header at buf[pos:]; None if incomplete."""
    avail = len(buf) - pos
    head = bytes(buf[pos:pos + min(avail, len(MAGIC))])
    if head != MAGIC[:len(head)]:
        raise StateSMixError("not a statesmix stream (bad magic)")
    if avail < _FIXED.size:
        return None
    magic, version, flags, preset, level, vocab_id, sha, block_size, cfg_len = \
        _FIXED.unpack_from(buf, pos)
    if version != VERSION:
        raise StateSMixError("unsupported format version %d (this build reads %d)"
                             % (version, VERSION))
    if flags & ~KNOWN_FLAGS:
        raise StateSMixError("unknown header flags 0x%02x" % flags)
    if cfg_len not in (_CONFIG.size, _CONFIG_36.size, _CONFIG_OLD.size):
        raise StateSMixError("bad model configuration length %d" % cfg_len)
    if not MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE:
        raise StateSMixError("bad block size %d" % block_size)
    if not 1 <= level <= 9 and level != 0:
        raise StateSMixError("bad level %d" % level)
    end = pos + _FIXED.size + cfg_len + (8 if flags & FLAG_SIZE else 0) + 4
    if len(buf) < end:
        return None
    body = bytes(buf[pos:end - 4])
    (check,) = struct.unpack_from("<I", buf, end - 4)
    if check != xxh64(body) & 0xFFFFFFFF:
        raise StateSMixError("corrupt stream header (checksum mismatch)")
    layout = {_CONFIG.size: _CONFIG, _CONFIG_36.size: _CONFIG_36,
              _CONFIG_OLD.size: _CONFIG_OLD}[cfg_len]
    config = dict(_OLD_DEFAULTS)
    config.update(zip(_CONFIG_KEYS, layout.unpack_from(buf, pos + _FIXED.size)))
    content_size = None
    if flags & FLAG_SIZE:
        (content_size,) = struct.unpack_from("<Q", buf, pos + _FIXED.size + cfg_len)
    return Header(preset, level, vocab_id, sha, block_size, config, content_size), end


def pack_varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def parse_varint(buf, pos):
    """Unsigned LEB128 of at most 9 bytes; None if incomplete."""
    v = shift = 0
    for i in range(9):
        if pos + i >= len(buf):
            return None
        c = buf[pos + i]
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            if c == 0 and i > 0:
                raise StateSMixError("corrupt block header (non-canonical number)")
            return v, pos + i + 1
        shift += 7
    raise StateSMixError("corrupt block header (number too long)")


def pack_block(raw_len, n_tokens, body):
    return pack_varint(raw_len) + pack_varint(n_tokens) + pack_varint(len(body)) + body


def max_body_len(n_tokens, vocab_size):
    """An upper bound on a valid block body: at most 31 bits a token, at most
    a few bytes per announced token, plus constant overhead."""
    return 64 + 4 * n_tokens + 4 * min(n_tokens, vocab_size) + vocab_size // 8


def parse_block_header(buf, pos, header):
    """(raw_len, n_tokens, body_len) of the next block, (0, 0, 0) for the end
    marker; None if incomplete."""
    r = parse_varint(buf, pos)
    if r is None:
        return None
    raw_len, p = r
    if raw_len == 0:
        return (0, 0, 0), p
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
    if not 8 <= body_len <= max_body_len(n_tokens, header.config["vocab_size"]):
        raise StateSMixError("corrupt block header (body length %d)" % body_len)
    return (raw_len, n_tokens, body_len), p


def pack_trailer(total, digest):
    return pack_varint(0) + _TRAILER.pack(total, digest)


def parse_trailer(buf, pos):
    if len(buf) - pos < _TRAILER.size:
        return None
    return _TRAILER.unpack_from(buf, pos), pos + _TRAILER.size
