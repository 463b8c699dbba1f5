"""Regenerate the seed corpus in fuzz/corpus/ (committed; run only when the
format changes):  PYTHONPATH=. python3 fuzz/make_corpus.py

  corpus/container/  small valid .ssx streams (count, ngram and paper presets;
                     v1_*: the same in format version 1, kept from before)
  corpus/decode/     inputs of fuzz_decode.c: a 7-byte config prefix and two
                     block bodies made by the C encoder (layout: see there)
"""
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import statesmix  # noqa: E402
from statesmix.core import Model  # noqa: E402

CHUNK_INDEX = {1: 0, 7: 1, 32: 2, 64: 3}
COMPONENTS = (1, 5, 3, 7)   # fuzz_decode.c's component presets, in order


def text(n, seed):
    rng = random.Random(seed)
    words = ["the", "model", "state", "space", "mix", "of", "a", "token", "and", "is",
             "compress", "\n", "data,", "bytes.", "éé", "1234"]
    out = []
    while sum(map(len, out)) < n:
        out.append(rng.choice(words))
    return " ".join(out).encode()[:n]


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def container_seeds(d):
    os.makedirs(d, exist_ok=True)
    write(os.path.join(d, "empty_count.ssx"), statesmix.compress(b"", preset="count"))
    write(os.path.join(d, "count_small.ssx"),
          statesmix.compress(text(300, 1), preset="count", block_size=1024))
    write(os.path.join(d, "count_2blocks.ssx"),
          statesmix.compress(text(1500, 2) + bytes([0, 255, 10]), preset="count",
                             block_size=1024))
    write(os.path.join(d, "count_binary.ssx"),
          statesmix.compress(bytes(random.Random(3).randbytes(200)), preset="count"))
    two = statesmix.compress(b"first\n", preset="count") + \
        statesmix.compress(b"second stream\n", preset="count")
    write(os.path.join(d, "count_concat.ssx"), two)
    write(os.path.join(d, "ngram_small.ssx"),
          statesmix.compress(text(200, 4), preset="ngram"))
    write(os.path.join(d, "paper_tiny.ssx"),
          statesmix.compress(text(60, 5), preset="paper", threads=1))
    c = statesmix.StateSMixCompressor(preset="count", block_size=1024)   # no size, stored
    write(os.path.join(d, "count_stored_unsized.ssx"),
          c.compress(text(1100, 6) + random.Random(7).randbytes(1500)) + c.flush())


def decode_seed(V, comp_index, chunk, blocks, seed):
    rng = random.Random(seed)
    cfg = {"components": COMPONENTS[comp_index], "vocab_size": V, "count_scale": 0.1,
           "seed": 1, "chunk": chunk, "lr": 0.002, "label_smooth": 0.12,
           "ngram_mem_mb": 1}
    m = Model(cfg)
    m.set_threads(1)
    bodies, counts = [], []
    for n in blocks:
        # a skewed choice from a few ids, so some repeat and some are new
        pool = [rng.randrange(V) for _ in range(8)]
        toks = [pool[min(int(rng.expovariate(0.7)), 7)] for _ in range(n)]
        bodies.append(m.encode_block(toks))
        counts.append(n)
    sel = comp_index | (0 << 2) | (CHUNK_INDEX[chunk] << 5)
    v = V - 2
    n2 = counts[1] if len(counts) > 1 else 0
    head = bytes([v & 0xFF, v >> 8, sel, counts[0] - 1, n2]) + struct.pack("<H", len(bodies[0]))
    return head + b"".join(bodies)


def decode_seeds(d):
    os.makedirs(d, exist_ok=True)
    specs = [  # (V, component preset, chunk, block token counts)
        (2, 0, 32, [1]),
        (16, 0, 32, [20, 30]),
        (300, 0, 32, [64, 64]),
        (4097, 0, 32, [40, 10]),
        (100, 1, 32, [50, 60]),
        (1000, 1, 32, [64, 64]),
        (100, 2, 7, [16, 12]),      # with the SSM: at most 16 tokens a block
        (50, 3, 1, [16, 16]),
        (200, 3, 64, [16, 9]),
    ]
    for i, (V, ci, chunk, blocks) in enumerate(specs):
        write(os.path.join(d, "seed_%02d_v%d_c%d" % (i, V, COMPONENTS[ci])),
              decode_seed(V, ci, chunk, blocks, i))


if __name__ == "__main__":
    container_seeds(os.path.join(HERE, "corpus", "container"))
    if "--container-only" not in sys.argv:
        decode_seeds(os.path.join(HERE, "corpus", "decode"))
