"""A writer of format version 1 (docs/format.md, "Version 1"), written here
from the format's description as a test oracle: statesmix itself only reads
version 1.  It turns a version-2 stream without stored blocks into the
version-1 stream of the same data (the blocks are the same in both)."""
import struct

from statesmix import container as ct
from statesmix.core import xxh64
from statesmix.presets import model_config
from statesmix.tokenizer import get_vocabulary

CONFIG_V1 = ("components", "vocab_size", "count_scale", "seed", "chunk", "lr",
             "label_smooth", "ngram_mem_mb", "train_steps", "cm_bits")
FORMAT_V1 = "<IIfIIffIIi"
TREE = 1024          # the token tree's streams carried the tenth field


def v1_stream(stream, n_fields=None):
    """The version-1 twin of a one-stream version-2 `stream`, with the first
    `n_fields` fields of the configuration (8: a stream written before
    train_steps existed; by default 10 for the token tree, else 9)."""
    head, pos = ct.parse_header(stream, 0)
    vocab = get_vocabulary(head.vocab_id)
    config = head.config or model_config(head.preset, vocab.size, head.content_size)
    if n_fields is None:
        n_fields = 10 if config["components"] & TREE else 9
    flags = 1 if head.content_size is not None else 0
    cfg = struct.pack(FORMAT_V1[:1 + n_fields], *(config[k] for k in CONFIG_V1[:n_fields]))
    out = struct.pack("<4sBBBBH32sIH", ct.MAGIC, 1, flags, head.preset, head.level,
                      head.vocab_id, vocab.sha256, head.block_size, len(cfg)) + cfg
    if flags:
        out += struct.pack("<Q", head.content_size)
    out += struct.pack("<I", xxh64(out) & 0xFFFFFFFF)
    total = 0
    while True:
        block, end = ct.parse_block_header(stream, pos, head)
        if block == ct.END:
            break
        assert not block.stored, "version 1 has no stored blocks"
        total += block.raw_len
        out += stream[pos:end + block.size]
        pos = end + block.size
    (_, digest), _ = ct.parse_trailer(stream, end, head)
    return out + b"\0" + struct.pack("<QQ", total, digest)
