"""Lossless byte-level BPE tokenization for statesmix.

A :class:`Vocabulary` turns arbitrary bytes into a sequence of token ids and
back, exactly.  The vocabularies are byte-level BPE tokenizers trained with
HuggingFace ``tokenizers`` (see ``data/train_vocab.py``) and registered in
``data/vocabularies.json`` under stable integer ids; the registry also records
each file's SHA-256, which is checked on load.

Lossless for any input
----------------------
``tokenizers`` only accepts ``str`` and its ByteLevel decoder is lossy on
invalid UTF-8, so this module never relies on it for the byte <-> token
mapping:

* Decoding uses our own ``id -> bytes`` table, built by inverting the GPT-2
  style bytes-to-unicode mapping that ByteLevel uses to spell token strings.
  ``decode(ids) == b"".join(token_bytes[i] for i in ids)``.
* Encoding splits the input into maximal valid UTF-8 runs and the bytes that
  are not part of any valid UTF-8 sequence.  Valid runs are encoded with the
  ``tokenizers`` tokenizer; every invalid byte becomes its single-byte token
  (all 256 exist in every registered vocabulary).  The split is done with one
  linear ``bytes.decode("utf-8", "surrogateescape")`` pass: CPython's strict
  UTF-8 decoder never produces surrogates, and surrogateescape maps each
  rejected byte ``b`` to the lone surrogate ``U+DC00 + b`` without building
  exception objects, so binary input is linear time, not O(n^2).
* Every encoded run is checked with our own decode table; a run whose ids do
  not reproduce it exactly is re-emitted as single-byte tokens (this should
  never happen; :attr:`Vocabulary.fallback_runs` counts it).

Long valid runs are cut into chunks only at positions where the ByteLevel
pre-tokenizer always starts a new pre-token (before a ``"\\n"`` or
``"\\r\\n"`` that sits between two printable ASCII characters), so the
chunked ids are identical to encoding the whole run in one call; the chunks
are encoded in one parallel batch.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from statesmix.errors import StateSMixError

__all__ = [
    "Vocabulary",
    "get_vocabulary",
    "default_vocabulary_id",
    "list_vocabularies",
    "byte_to_unicode_table",
]

_REGISTRY_NAME = "vocabularies.json"
_DATA_PACKAGE = "statesmix.data"

# Runs longer than this are split into chunks of about _CHUNK_TARGET chars.
_CHUNK_MIN = 1 << 17
_CHUNK_TARGET = 1 << 16

# One or more bytes that the UTF-8 decoder rejected (surrogateescape'd).
_ESCAPED_RUN = re.compile("[\udc80-\udcff]+")
_ESCAPED_SPLIT = re.compile("([\udc80-\udcff]+)")
# A safe cut: between a printable ASCII char and a "\n" or "\r\n" that is
# itself followed by a printable ASCII char (see _split_safe).
_SAFE_CUT = re.compile(r"(?<=[!-~])(?=\r?\n[!-~])")


def byte_to_unicode_table() -> list[str]:
    """The GPT-2 / ByteLevel mapping: byte value -> the character spelling it.

    Printable Latin-1 bytes ('!'..'~', '\\xa1'..'\\xac', '\\xae'..'\\xff')
    stand for themselves; the remaining 68 byte values, in increasing order,
    are spelled by U+0100, U+0101, ...
    """
    printable = (
        list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    )
    keep = set(printable)
    table = [""] * 256
    extra = 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(0x100 + extra)
            extra += 1
    return table


_UNICODE_TO_BYTE = {ch: b for b, ch in enumerate(byte_to_unicode_table())}


def _token_string_to_bytes(token: str) -> bytes:
    try:
        return bytes(_UNICODE_TO_BYTE[ch] for ch in token)
    except KeyError as exc:
        raise StateSMixError(
            f"vocabulary token {token!r} contains a character outside the byte-level alphabet"
        ) from exc


# --------------------------------------------------------------------------
# Data files and registry
# --------------------------------------------------------------------------

_lock = threading.RLock()
_registry_cache: dict[str, Any] | None = None
_vocab_cache: dict[int, "Vocabulary"] = {}


def _data_dir():
    """The directory holding vocabularies.json (a Traversable or a Path)."""
    try:
        from importlib.resources import files

        root = files(_DATA_PACKAGE)
        if root.joinpath(_REGISTRY_NAME).is_file():
            return root
    except (ImportError, ModuleNotFoundError, TypeError, FileNotFoundError, OSError):
        pass
    # Source tree without install: <repo>/data next to <repo>/statesmix.
    root = Path(__file__).resolve().parent.parent / "data"
    if (root / _REGISTRY_NAME).is_file():
        return root
    raise StateSMixError(
        f"cannot find the vocabulary registry {_REGISTRY_NAME} "
        f"(neither in package {_DATA_PACKAGE} nor in {root})"
    )


def _read_data_file(rel: str) -> bytes:
    node = _data_dir()
    for part in rel.split("/"):
        if part in ("", ".", ".."):
            raise StateSMixError(f"invalid vocabulary file path {rel!r} in registry")
        node = node.joinpath(part)
    try:
        return node.read_bytes()
    except (FileNotFoundError, OSError) as exc:
        raise StateSMixError(f"cannot read vocabulary data file {rel!r}: {exc}") from exc


def _registry() -> dict[str, Any]:
    global _registry_cache
    with _lock:
        if _registry_cache is not None:
            return _registry_cache
        raw = _read_data_file(_REGISTRY_NAME)
        try:
            reg = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise StateSMixError(f"corrupt vocabulary registry: {exc}") from exc
        entries = reg.get("vocabularies") if isinstance(reg, dict) else None
        if not isinstance(entries, list):
            raise StateSMixError("corrupt vocabulary registry: no 'vocabularies' list")
        by_id: dict[int, dict] = {}
        names = set()
        for e in entries:
            if not isinstance(e, dict):
                raise StateSMixError("corrupt vocabulary registry: entry is not an object")
            vid = e.get("id")
            if type(vid) is not int or vid < 1:
                raise StateSMixError(f"corrupt vocabulary registry: bad id {vid!r}")
            if vid in by_id or e.get("name") in names:
                raise StateSMixError(f"corrupt vocabulary registry: duplicate id/name {vid!r}")
            for key, typ in (("name", str), ("file", str), ("size", int), ("sha256", str)):
                if not isinstance(e.get(key), typ):
                    raise StateSMixError(
                        f"corrupt vocabulary registry: entry {vid} lacks {key!r}"
                    )
            by_id[vid] = e
            names.add(e["name"])
        default = reg.get("default")
        if default not in by_id:
            raise StateSMixError(f"corrupt vocabulary registry: default {default!r} unknown")
        _registry_cache = {"default": default, "entries": entries, "by_id": by_id}
        return _registry_cache


def list_vocabularies() -> list[dict]:
    """All registered vocabularies (copies of the registry entries)."""
    return json.loads(json.dumps(_registry()["entries"]))


def default_vocabulary_id() -> int:
    """The id of the default vocabulary."""
    return _registry()["default"]


def get_vocabulary(vocab_id: int) -> "Vocabulary":
    """Load (once) and return the registered vocabulary with this id.

    Raises StateSMixError for an unknown id or when the file does not match
    the SHA-256 recorded in the registry.
    """
    if isinstance(vocab_id, (bool, np.bool_)) or not isinstance(vocab_id, (int, np.integer)):
        raise StateSMixError(f"vocabulary id must be an integer, not {vocab_id!r}")
    vid = int(vocab_id)
    with _lock:
        v = _vocab_cache.get(vid)
        if v is not None:
            return v
        entry = _registry()["by_id"].get(vid)
        if entry is None:
            raise StateSMixError(f"unknown vocabulary id {vid}")
        raw = _read_data_file(entry["file"])
        digest = hashlib.sha256(raw).digest()
        if digest.hex() != entry["sha256"].lower():
            raise StateSMixError(
                f"vocabulary {vid} ({entry['name']}): sha256 of {entry['file']} is "
                f"{digest.hex()}, registry says {entry['sha256']}"
            )
        v = Vocabulary._from_json_bytes(vid, entry["name"], raw, digest, entry["size"])
        _vocab_cache[vid] = v
        return v


# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------


class Vocabulary:
    """A registered byte-level BPE vocabulary: lossless bytes <-> token ids.

    Attributes:
        id: registry id.
        name: registry name, e.g. ``"bpe16k-v1"``.
        size: number of tokens; ids are ``0 .. size-1``.
        sha256: raw 32-byte SHA-256 of the vocabulary file.
        token_bytes: ``token_bytes[i]`` is the exact byte string of token i.
        byte_token_ids: int32 array of 256: byte value -> its single-byte token.
        fallback_runs: number of valid UTF-8 runs whose ``tokenizers`` encoding
            did not round-trip and were emitted as single bytes (expected 0).
    """

    id: int
    name: str
    size: int
    sha256: bytes
    token_bytes: list[bytes]

    def __init__(self, vocab_id: int, name: str, sha256: bytes, tokenizer, token_bytes):
        self.id = vocab_id
        self.name = name
        self.sha256 = sha256
        self.size = len(token_bytes)
        self.token_bytes = token_bytes
        self._tokenizer = tokenizer
        index = {tb: i for i, tb in enumerate(token_bytes)}
        if len(index) != len(token_bytes):
            raise StateSMixError(f"vocabulary {name}: duplicate token byte strings")
        try:
            ids = [index[bytes([b])] for b in range(256)]
        except KeyError as exc:
            raise StateSMixError(f"vocabulary {name}: a single-byte token is missing") from exc
        self.byte_token_ids = np.array(ids, dtype=np.int32)
        self._token_len = np.array([len(t) for t in token_bytes], dtype=np.int64)
        self.fallback_runs = 0
        self._classes = None
        self._spellings = None

    @property
    def classes(self) -> np.ndarray:
        """uint8 class of every token (token_class), for the learned mixing."""
        if self._classes is None:
            self._classes = np.array([token_class(t) for t in self.token_bytes], dtype=np.uint8)
        return self._classes

    @property
    def spellings(self) -> tuple[bytes, np.ndarray]:
        """All token bytes concatenated and the int64 offsets (size + 1) of
        each token's bytes in them, for the core's token tree."""
        if self._spellings is None:
            off = np.zeros(self.size + 1, dtype=np.int64)
            np.cumsum(self._token_len, out=off[1:])
            self._spellings = (b"".join(self.token_bytes), off)
        return self._spellings

    @classmethod
    def _from_json_bytes(cls, vocab_id, name, raw: bytes, digest: bytes, size: int):
        from tokenizers import Tokenizer

        try:
            spec = json.loads(raw.decode("utf-8"))
            model = spec["model"]
            vocab = model["vocab"]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise StateSMixError(f"vocabulary {name}: corrupt tokenizer file: {exc}") from exc
        if model.get("type") != "BPE" or not isinstance(vocab, dict):
            raise StateSMixError(f"vocabulary {name}: not a BPE tokenizer")
        pre = spec.get("pre_tokenizer") or {}
        if pre.get("type") != "ByteLevel" or spec.get("normalizer") is not None:
            raise StateSMixError(f"vocabulary {name}: not a plain byte-level tokenizer")
        if spec.get("added_tokens"):
            raise StateSMixError(f"vocabulary {name}: added/special tokens are not supported")
        if len(vocab) != size:
            raise StateSMixError(
                f"vocabulary {name}: file has {len(vocab)} tokens, registry says {size}"
            )
        token_bytes: list[bytes | None] = [None] * size
        for tok, i in vocab.items():
            if type(i) is not int or not 0 <= i < size or token_bytes[i] is not None:
                raise StateSMixError(f"vocabulary {name}: token ids are not 0..{size - 1}")
            token_bytes[i] = _token_string_to_bytes(tok)
        try:
            tokenizer = Tokenizer.from_str(raw.decode("utf-8"))
        except Exception as exc:  # tokenizers raises its own Exception type
            raise StateSMixError(f"vocabulary {name}: tokenizers cannot load it: {exc}") from exc
        if tokenizer.get_vocab_size(with_added_tokens=True) != size:
            raise StateSMixError(f"vocabulary {name}: tokenizers reports a different size")
        return cls(vocab_id, name, digest, tokenizer, token_bytes)

    def __repr__(self) -> str:
        return f"<Vocabulary id={self.id} name={self.name!r} size={self.size}>"

    # ---------------------------------------------------------------- encode

    def encode(self, data) -> np.ndarray:
        """Tokenize arbitrary bytes; returns an int32 array of token ids.

        ``decode(encode(data)) == bytes(data)`` for every input.
        """
        if isinstance(data, str):
            raise TypeError("encode() takes bytes-like data, not str")
        if isinstance(data, bytes):
            b = data
        else:
            b = memoryview(data).tobytes()
        if not b:
            return np.zeros(0, dtype=np.int32)
        if b.isascii():
            text = b.decode("ascii")
        else:
            text = b.decode("utf-8", "surrogateescape")
            if _ESCAPED_RUN.search(text) is not None:
                return self._encode_mixed(text)
        ids, _ = self._encode_runs([text], [b])
        return ids

    def _encode_mixed(self, text: str) -> np.ndarray:
        """Input with invalid UTF-8: alternating valid runs and rejected bytes.

        ``parts`` alternates valid run, escaped run, valid run, ...; the first
        and last valid runs may be empty.  Each distinct valid run is encoded
        once (binary data repeats short runs a lot); the output is gathered
        from the encoded runs and the single-byte ids with numpy.
        """
        parts = _ESCAPED_SPLIT.split(text)
        valid = parts[0::2]
        escaped = parts[1::2]

        uniq_index: dict[str, int] = {"": 0}
        for s in valid:
            if s not in uniq_index:
                uniq_index[s] = len(uniq_index)
        uniq = list(uniq_index)[1:]  # index 0 is the empty run
        run_ids, bounds = self._encode_runs(uniq, [s.encode("utf-8") for s in uniq])
        # Run with index u occupies run_ids[bounds[u]:bounds[u + 1]]; the empty
        # run (u = 0) is [0, 0).
        bounds = np.concatenate(([0, 0], bounds))
        esc_bytes = np.frombuffer(
            "".join(escaped).encode("utf-8", "surrogateescape"), dtype=np.uint8
        )
        source = np.concatenate((run_ids, self.byte_token_ids[esc_bytes]))

        # Source range [start, start + length) of every piece, in output order.
        k = np.fromiter((uniq_index[s] for s in valid), dtype=np.int64, count=len(valid))
        esc_len = np.fromiter(map(len, escaped), dtype=np.int64, count=len(escaped))
        esc_start = len(run_ids) + np.concatenate(([0], np.cumsum(esc_len)[:-1]))
        starts = np.empty(len(parts), dtype=np.int64)
        lengths = np.empty(len(parts), dtype=np.int64)
        starts[0::2] = bounds[k]
        lengths[0::2] = bounds[k + 1] - bounds[k]
        starts[1::2] = esc_start
        lengths[1::2] = esc_len
        return source[_ranges_index(starts, lengths)]

    def _encode_runs(self, texts: list[str], raws: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Encode valid-UTF-8 strings (``raws[i] == texts[i].encode()``).

        Returns ``(ids, ends)``: int32 ids of all texts concatenated, and
        ``ends[i]`` = index in ``ids`` where text i ends (it starts at
        ``ends[i-1]``, or 0).  Every text is verified to decode exactly.

        The texts (long ones cut by :func:`_split_safe`) are passed to
        ``tokenizers`` as pre-tokenized words, grouped into sequences of about
        _CHUNK_TARGET chars that are encoded as one parallel batch.  BPE tokens
        never span words, so the text boundaries are recovered from the
        cumulative byte lengths of the tokens.
        """
        if not texts:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
        batches: list[list[str]] = []
        current: list[str] = []
        filled = 0
        for t in texts:
            for w in _split_safe(t) if len(t) >= _CHUNK_MIN else (t,):
                current.append(w)
                filled += len(w)
                if filled >= _CHUNK_TARGET:
                    batches.append(current)
                    current, filled = [], 0
        if current:
            batches.append(current)
        encode_batch = getattr(  # encode_batch_fast (no offsets) is missing in old tokenizers
            self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch
        )
        encodings = encode_batch(batches, is_pretokenized=True, add_special_tokens=False)
        ids = np.concatenate([np.array(e.ids, dtype=np.int32) for e in encodings])

        raw_ends = np.cumsum(np.fromiter(map(len, raws), dtype=np.int64, count=len(raws)))
        tok_ends = np.cumsum(self._token_len[ids], dtype=np.int64)
        ends = np.searchsorted(tok_ends, raw_ends, side="right")
        ok = (
            len(tok_ends) > 0
            and tok_ends[-1] == raw_ends[-1]
            and np.array_equal(tok_ends[ends - 1], raw_ends)
            and self.decode(ids) == b"".join(raws)
        )
        # (Should never fail; if it does, redo it text by text and count.)
        if ok:
            return ids, ends
        return self._encode_each(texts, raws)

    def _encode_each(self, texts, raws) -> tuple[np.ndarray, np.ndarray]:
        """Slow path: encode and verify text by text; single bytes on failure."""
        pieces: list[np.ndarray] = []
        for t, raw in zip(texts, raws):
            piece = np.array(
                self._tokenizer.encode(t, add_special_tokens=False).ids, dtype=np.int32
            ) if t else np.zeros(0, dtype=np.int32)
            if self.decode(piece) != raw:
                self.fallback_runs += 1
                piece = self.byte_token_ids[np.frombuffer(raw, dtype=np.uint8)]
            pieces.append(piece)
        out = np.concatenate(pieces).astype(np.int32, copy=False)
        return out, np.cumsum([len(p) for p in pieces], dtype=np.int64)

    # ---------------------------------------------------------------- decode

    def decode(self, ids) -> bytes:
        """Token ids (any int sequence or numpy array) -> the exact bytes."""
        arr = np.asarray(ids)
        if arr.size == 0:
            return b""
        if arr.dtype.kind not in "iu":
            if arr.dtype == object or arr.dtype.kind == "b":
                try:
                    arr = arr.astype(np.int64, casting="unsafe")
                except (TypeError, ValueError, OverflowError) as exc:
                    raise StateSMixError(f"token ids must be integers: {exc}") from exc
            else:
                raise StateSMixError(f"token ids must be integers, got dtype {arr.dtype}")
        arr = arr.reshape(-1)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= self.size:
            raise StateSMixError(
                f"token id out of range for vocabulary {self.name} (size {self.size}): "
                f"{lo if lo < 0 else hi}"
            )
        tb = self.token_bytes
        return b"".join([tb[i] for i in arr.tolist()])


def token_class(b: bytes) -> int:
    """The class of a token from its bytes (part of the stream format of the
    learned mixing, docs/format.md): 0 space + lower-case letter, 1 space +
    upper-case letter, 2 lower-case letter, 3 upper-case letter, 4 digit
    (after an optional space), 5 white space (any newline, or space, tab or
    CR first), 6 other ASCII (punctuation, markup), 7 anything else (non-ASCII)."""
    if b"\n" in b:
        return 5
    space = b[:1] == b" "
    rest = b[1:] if space else b
    if not rest:
        return 5 if space else 7
    c = rest[0]
    if 0x61 <= c <= 0x7A:
        return 0 if space else 2
    if 0x41 <= c <= 0x5A:
        return 1 if space else 3
    if 0x30 <= c <= 0x39:
        return 4
    if c in b" \t\r":
        return 5
    return 6 if c < 0x80 else 7


def _split_safe(text: str) -> list[str]:
    """Cut a long string into ~_CHUNK_TARGET pieces at pre-token boundaries.

    A cut is placed before a "\\n" that lies between two printable ASCII
    (non-space) characters X and Y.  In the whole string the GPT-2
    pre-tokenizer regex ends the pre-token holding X at the cut (no
    non-whitespace alternative can consume "\\n"), and "\\n" alone is the next
    pre-token (``\\s+(?!\\S)`` fails before Y, ``\\s+`` takes just "\\n").  The
    same happens when the pieces are encoded separately: X ends its piece, and
    the next piece starts with "\\n" followed by Y.  (Cutting *after* the
    "\\n" would not be safe: a piece ending in "\\n\\n" makes ``\\s+(?!\\S)``
    take both newlines at the end of the string, whereas the whole string
    splits them.)  With "\\r\\n" instead of "\\n" the pre-tokens are "\\r" and
    "\\n" both ways, so that is a safe cut too.  BPE never merges across pre-tokens, so encoding the pieces
    separately gives exactly the ids of encoding the whole string.
    """
    out: list[str] = []
    start = 0
    n = len(text)
    while n - start > _CHUNK_TARGET + _CHUNK_TARGET // 2:
        m = _SAFE_CUT.search(text, start + _CHUNK_TARGET)
        if m is None:
            break
        cut = m.start()
        out.append(text[start:cut])
        start = cut
    out.append(text[start:])
    return out


def _ranges_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for all (s, n), vectorized."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    nz = lengths > 0
    starts, lengths = starts[nz], lengths[nz]
    first = np.cumsum(lengths) - lengths  # output position of each range
    return np.repeat(starts - first, lengths) + np.arange(total, dtype=np.int64)
