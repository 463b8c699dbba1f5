#!/usr/bin/env python3
"""Compare the registered BPE vocabularies under a simple count-prior model.

Usage::

    PYTHONPATH=. python bench/vocab_sizes.py [--out bench/results/vocab_sizes.md]

For every registered vocabulary and every test file it reports:

* tokens: number of tokens ``encode()`` produces;
* live: number of distinct token ids in the file (the live vocabulary);
* B/tok: input bytes per token;
* enc s: wall time of ``Vocabulary.encode`` (best of 2, vocabulary preloaded);
* model B: ideal code length, in bytes, of the adaptive count-prior model.
  At position i the model gives token v the probability
  ``p(v) = w_v / Z`` with ``w_v = exp(0.1 * ln(count_v + 1)) = (count_v + 1)^0.1``
  over the live vocabulary only (as if the set of distinct ids had been
  announced up front), where ``count_v`` counts v among tokens 0..i-1 and
  ``Z = sum of w_v over the live vocabulary``.  Cost = sum of -log2 p(token_i);
* vocab B: cost of announcing the live vocabulary: the sorted distinct ids as
  Rice-coded gaps (first id, then ``id_j - id_{j-1} - 1``), with the best
  Rice parameter k (0..24), plus a 37-bit header (32-bit count, 5-bit k);
* total B and bpb: model + vocab, in bytes and in bits per input byte.

Test files: ``../shared/data/enwik6`` (benchmark; never trained on), one
Project Gutenberg book from the training corpus (``pg1342.txt``, so it is
in-sample), and "text nobody tuned on": the first 1,000,000 bytes of the
concatenation, in sorted file-name order, of the ``*.py`` files directly in
the directory of this Python's ``os`` module (the stdlib, no subdirectories).

The count-prior cost is computed exactly but vectorized: with c_i = number of
earlier occurrences of token_i, ``-log2 p = log2 Z_i - 0.1 * log2(c_i + 1)`` and
``Z_i = live + sum_{j<i} ((c_j + 2)^0.1 - (c_j + 1)^0.1)`` (float64 cumsum).
A plain per-token loop over a prefix cross-checks it.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from statesmix import tokenizer as T  # noqa: E402

SHARED = REPO / ".." / "shared"
ALPHA = 0.1
MARKER = "<!-- conclusion: hand-written, kept when this file is regenerated -->"


def stdlib_text(limit: int = 1_000_000) -> tuple[bytes, str]:
    d = Path(os.__file__).resolve().parent
    files = sorted(d.glob("*.py"))
    buf = bytearray()
    for p in files:
        buf += p.read_bytes()
        if len(buf) >= limit:
            break
    desc = (f"first {limit:,} bytes of sorted {d}/*.py "
            f"(Python {platform.python_version()})")
    return bytes(buf[:limit]), desc


def occurrence_counts(tokens: np.ndarray) -> np.ndarray:
    """c[i] = number of j < i with tokens[j] == tokens[i]."""
    n = len(tokens)
    order = np.argsort(tokens, kind="stable")
    st = tokens[order]
    new_group = np.empty(n, dtype=bool)
    new_group[:1] = True
    new_group[1:] = st[1:] != st[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    c = np.empty(n, dtype=np.int64)
    c[order] = np.arange(n) - group_start
    return c


def count_prior_bits(tokens: np.ndarray) -> float:
    if len(tokens) == 0:
        return 0.0
    live = len(np.unique(tokens))
    c = occurrence_counts(tokens).astype(np.float64)
    delta = (c + 2.0) ** ALPHA - (c + 1.0) ** ALPHA
    z = live + np.concatenate(([0.0], np.cumsum(delta)[:-1]))
    return float(np.sum(np.log2(z)) - ALPHA * np.sum(np.log2(c + 1.0)))


def count_prior_bits_loop(tokens: np.ndarray) -> float:
    """Reference: per-token loop with an incrementally maintained normalizer."""
    live = np.unique(tokens)
    counts = dict.fromkeys(live.tolist(), 0)
    z = float(len(live))
    bits = 0.0
    for t in tokens.tolist():
        w_old = (counts[t] + 1) ** ALPHA
        bits -= math.log2(w_old / z)
        counts[t] += 1
        z += (counts[t] + 1) ** ALPHA - w_old
    return bits


def rice_bits(sorted_ids: np.ndarray) -> tuple[int, int]:
    """(bits, k): Rice-coded gaps of sorted distinct ids, best k, + 37-bit header."""
    if len(sorted_ids) == 0:
        return 37, 0
    gaps = np.diff(np.concatenate(([-1], sorted_ids.astype(np.int64)))) - 1
    best = None
    for k in range(25):
        bits = int(np.sum(gaps >> k)) + len(gaps) * (1 + k)
        if best is None or bits < best[0]:
            best = (bits, k)
    return best[0] + 37, best[1]


def measure(v, data: bytes) -> dict:
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        ids = v.encode(data)
        times.append(time.perf_counter() - t0)
    assert v.decode(ids) == data
    distinct = np.unique(ids)
    model_bits = count_prior_bits(ids)
    vocab_bits, k = rice_bits(distinct)
    total_bytes = (model_bits + vocab_bits) / 8
    return {
        "tokens": len(ids),
        "live": len(distinct),
        "bpt": len(data) / max(1, len(ids)),
        "time": min(times),
        "model": model_bits / 8,
        "vocab": vocab_bits / 8,
        "k": k,
        "total": total_bytes,
        "bpb": 8 * total_bytes / len(data),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="vocabulary size comparison (count prior)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "vocab_sizes.md")
    args = ap.parse_args(argv)

    inputs: list[tuple[str, str, bytes]] = []
    enwik6 = SHARED / "data" / "enwik6"
    book = SHARED / "corpus" / "pg1342.txt"
    if enwik6.is_file():
        inputs.append(("enwik6", "../shared/data/enwik6 (1,000,000 bytes; not in training)",
                       enwik6.read_bytes()))
    else:
        print(f"note: {enwik6} absent, skipped", file=sys.stderr)
    if book.is_file():
        inputs.append(("pg1342", "../shared/corpus/pg1342.txt (Pride and Prejudice, "
                       f"{book.stat().st_size:,} bytes; IN the training corpus)", book.read_bytes()))
    else:
        print(f"note: {book} absent, skipped", file=sys.stderr)
    data, desc = stdlib_text()
    inputs.append(("stdlib-py", desc, data))

    # Cross-check the vectorized model cost against the loop on a prefix.
    v0 = T.get_vocabulary(T.default_vocabulary_id())
    probe = v0.encode(inputs[0][2][:100_000])
    a, b = count_prior_bits(probe), count_prior_bits_loop(probe)
    assert abs(a - b) < 1e-6 * b, (a, b)

    vocabs = [T.get_vocabulary(e["id"]) for e in T.list_vocabularies()]
    results = {}
    for v in vocabs:
        for name, _, data in inputs:
            r = measure(v, data)
            results[(v.id, name)] = r
            print(f"{v.name:12s} {name:10s} tokens={r['tokens']:8d} live={r['live']:6d} "
                  f"B/tok={r['bpt']:.3f} t={r['time']:.3f}s total={r['total']:.0f}B "
                  f"bpb={r['bpb']:.4f}", file=sys.stderr)

    lines = [
        "# Vocabulary size comparison under the count-prior model",
        "",
        "Generated by `bench/vocab_sizes.py` (see its docstring for the exact definitions).",
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"tokenizers {__import__('tokenizers').__version__}, {os.cpu_count()} CPUs "
        f"({platform.machine()}); 1-min load average at the end: {os.getloadavg()[0]:.2f} "
        "(`enc s` is wall time and suffers when the machine is busy).",
        "",
        "Model: `p(v) ∝ (count_v + 1)^0.1` over the live vocabulary (all distinct ids of",
        "the file, announced up front); `model B` = Σ −log2 p / 8; `vocab B` = Rice-coded",
        "gaps of the sorted distinct ids (best k) + 37-bit header; `bpb` = 8·total / input bytes.",
        "",
        "Files:",
        "",
    ]
    for name, desc, data in inputs:
        lines.append(f"* **{name}**: {desc}")
    lines.append("")
    for name, _, data in inputs:
        lines += [
            f"## {name} ({len(data):,} bytes)",
            "",
            "| vocabulary | size | tokens | live | B/tok | enc s | model B | vocab B (k) | total B | bpb |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        best = min(vocabs, key=lambda v: results[(v.id, name)]["total"])
        for v in vocabs:
            r = results[(v.id, name)]
            mark = " **←**" if v is best else ""
            lines.append(
                f"| {v.name} (id {v.id}) | {v.size} | {r['tokens']:,} | {r['live']:,} | "
                f"{r['bpt']:.3f} | {r['time']:.3f} | {r['model']:,.0f} | "
                f"{r['vocab']:,.0f} ({r['k']}) | {r['total']:,.0f}{mark} | {r['bpb']:.4f} |"
            )
        lines.append("")
    lines += ["## Summary (total bytes, lower is better)", "",
              "| vocabulary | " + " | ".join(n for n, _, _ in inputs) + " |",
              "|---|" + "---:|" * len(inputs)]
    for v in vocabs:
        lines.append(f"| {v.name} | " + " | ".join(
            f"{results[(v.id, n)]['total']:,.0f}" for n, _, _ in inputs) + " |")
    lines.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines)
    # A hand-written conclusion below the marker survives reruns.
    old = args.out.read_text() if args.out.is_file() else ""
    if MARKER in old:
        text += "\n" + old[old.index(MARKER):]
    else:
        text += "\n" + MARKER + "\n\n## Conclusion\n\n(write it here)\n"
    args.out.write_text(text if text.endswith("\n") else text + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
