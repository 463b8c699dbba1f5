#!/usr/bin/env python3
"""Train a byte-level BPE vocabulary for statesmix.

Usage::

    python data/train_vocab.py --size 16384 --out data/vocab/bpe16k-v1.json \
        [--corpus ../shared/corpus]

Training parameters (fixed; they are part of a vocabulary's identity and are
recorded in ``data/vocabularies.json``):

* model: ``tokenizers.models.BPE()`` -- no unk token, no dropout, no
  continuing-subword prefix / end-of-word suffix.
* normalizer: none.
* pre-tokenizer: ``pre_tokenizers.ByteLevel(add_prefix_space=False,
  use_regex=True)`` (GPT-2 split regex, GPT-2 bytes->unicode mapping).
* decoder: ``decoders.ByteLevel()`` (statesmix itself never uses it for
  decoding: ``statesmix.tokenizer`` maps ids to bytes with its own table).
* trainer: ``trainers.BpeTrainer(vocab_size=SIZE, min_frequency=2,
  special_tokens=[], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
  show_progress=False)`` -- so all 256 single-byte tokens always exist and
  ids 0..255 are the single bytes (in the order of the ByteLevel alphabet
  sorted by character, as ``tokenizers`` assigns them).
* corpus: every regular file directly in ``--corpus`` (default
  ``<repo>/../shared/corpus``), in sorted file-name order, each file fed as
  ONE sequence via ``train_from_iterator`` (so pre-tokenization during
  training is identical to pre-tokenization at encode time).  Files are read
  as bytes; maximal valid UTF-8 runs are used, invalid bytes (none in the
  reference corpus) are dropped -- they are covered by the byte alphabet
  anyway.

The reference corpus for the ``-v1`` vocabularies is ``wiki-sample.xml``
(enwik8 bytes 3,000,254..) plus Project Gutenberg books pg1342, pg1661,
pg2701 and pg98.  The benchmark file enwik6 must never be used for training.

Training with ``tokenizers`` 0.23 is deterministic for this setup (the same
corpus gives byte-identical output files; checked by training twice).  The
output JSON is written with ``Tokenizer.to_str(pretty=False)`` (compact) plus a final
newline.  Once a vocabulary file is registered, that committed file is what
counts: never regenerate a file over an existing registry ID -- train a new
file under a new name and register it with a new ID (see data/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

MIN_FREQUENCY = 2
FORBIDDEN = {"enwik6", "enwik8", "enwik9"}


def valid_utf8_text(data: bytes) -> str:
    """Return the concatenation of the maximal valid UTF-8 runs of ``data``."""
    # surrogateescape maps each invalid byte to one lone surrogate U+DC80..;
    # a strict UTF-8 decode never yields surrogates, so encoding with
    # errors="ignore" drops exactly the invalid bytes.
    s = data.decode("utf-8", "surrogateescape")
    return s.encode("utf-8", "ignore").decode("utf-8")


def corpus_files(corpus: Path) -> list[Path]:
    files = sorted(p for p in corpus.iterdir() if p.is_file())
    for p in files:
        if p.name in FORBIDDEN:
            raise SystemExit(f"refusing to train on benchmark file {p}")
    if not files:
        raise SystemExit(f"no files in corpus directory {corpus}")
    return files


def build_tokenizer(size: int, corpus: Path) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=size,
        min_frequency=MIN_FREQUENCY,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = [valid_utf8_text(p.read_bytes()) for p in corpus_files(corpus)]
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tok


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    default_corpus = here.parent / ".." / "shared" / "corpus"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, required=True, help="target vocabulary size (>= 256)")
    ap.add_argument("--out", type=Path, required=True, help="output tokenizer JSON file")
    ap.add_argument("--corpus", type=Path, default=default_corpus, help="corpus directory")
    ap.add_argument("--force", action="store_true", help="overwrite an existing output file")
    args = ap.parse_args(argv)

    if args.size < 256:
        ap.error("--size must be at least 256")
    if args.out.exists() and not args.force:
        ap.error(f"{args.out} exists; registered vocabularies must never be regenerated "
                 "(use a new name, or --force for an unregistered scratch file)")
    tok = build_tokenizer(args.size, args.corpus)
    text = tok.to_str(pretty=False) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(tmp, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"{args.out}: size={tok.get_vocab_size()} sha256={digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
