"""Tests for statesmix.tokenizer: lossless byte <-> token id mapping."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statesmix import tokenizer as T
from statesmix.errors import StateSMixError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared"
CORPUS = SHARED / "corpus"

ALL_IDS = [e["id"] for e in T.list_vocabularies()]


@pytest.fixture(scope="module")
def vocab():
    return T.get_vocabulary(T.default_vocabulary_id())


@pytest.fixture(scope="module", params=ALL_IDS, ids=lambda i: f"vocab{i}")
def any_vocab(request):
    return T.get_vocabulary(request.param)


def roundtrip(v, data) -> np.ndarray:
    ids = v.encode(data)
    assert isinstance(ids, np.ndarray)
    assert ids.dtype == np.int32
    assert ids.ndim == 1
    if ids.size:
        assert 0 <= int(ids.min()) and int(ids.max()) < v.size
    assert v.decode(ids) == bytes(data)
    return ids


EDGE_CASES = {
    "empty": b"",
    "one_nul": b"\x00",
    "nuls": b"\x00" * 1000,
    "all_bytes": bytes(range(256)),
    "all_bytes_reversed": bytes(range(255, -1, -1)),
    "all_bytes_x3": bytes(range(256)) * 3,
    "high_bytes": bytes(range(128, 256)),
    "lone_surrogate_high": b"\xed\xa0\x80",
    "lone_surrogate_low": b"\xed\xb2\x80",
    "surrogate_pair_cesu": b"\xed\xa0\xbd\xed\xb8\x80",
    "overlong_nul": b"\xc0\x80",
    "overlong_slash": b"\xe0\x80\xaf",
    "overlong_4": b"\xf0\x80\x80\xaf",
    "truncated_2": b"\xc3",
    "truncated_3": b"\xe2\x82",
    "truncated_4": b"\xf0\x9f\x98",
    "truncated_in_text": b"abc \xe2\x82 def",
    "lone_continuation": b"\x80\xbf",
    "above_max": b"\xf4\x90\x80\x80",
    "f5_ff": b"\xf5\xf8\xfc\xfe\xff",
    "bom": b"\xef\xbb\xbfhello",
    "crlf": b"line one\r\nline two\r\n\r\n\r\nend\r",
    "lone_cr": b"a\rb\r\r",
    "tabs_spaces": b"\t \t  x  \n\n  \t\n",
    "trailing_spaces": b"word     ",
    "only_spaces": b" " * 100,
    "newlines": b"\n" * 100,
    "emoji": "smile \U0001F600 \U0001F1E9\U0001F1EA zwj \U0001F468\u200d\U0001F469".encode(),
    "cjk": "\u4e2d\u6587\u6d4b\u8bd5 \u65e5\u672c\u8a9e".encode(),
    "combining": "e\u0301 a\u0308\u0308\u0308".encode(),
    "nbsp_and_unicode_spaces": "a\u00a0b\u2003c\u3000d\u2028e\u0085f".encode(),
    "max_codepoint": "\U0010ffff".encode(),
    "private_use": "\ue000\uf8ff".encode(),
    "nonchar": "\ufffe\uffff".encode(),
    "replacement_char": "\ufffd".encode(),
    "contractions": b"don't won't I'm we're they've he'd she'll 's 't",
    "digits": b"0123456789 1,234,567.89 3.14159e-10",
    "mixed_valid_invalid": b"abc\xffdef\xfe\xfdghi\x80",
    "invalid_between_words": b"hello\xffworld\xff \xffagain",
    "xml": b'<page>\n  <title>A &amp; B</title>\n  <text xml:space="preserve">[[x]]</text>',
    "control_chars": bytes(range(32)) + b"\x7f",
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_cases_roundtrip(any_vocab, name):
    roundtrip(any_vocab, EDGE_CASES[name])


def test_empty_gives_empty_array(vocab):
    ids = vocab.encode(b"")
    assert ids.dtype == np.int32 and ids.shape == (0,)
    assert vocab.decode([]) == b""
    assert vocab.decode(np.zeros(0, dtype=np.int64)) == b""


def test_invalid_bytes_become_single_byte_tokens(vocab):
    for b in [0x80, 0xC0, 0xC1, 0xF5, 0xFF]:
        ids = vocab.encode(bytes([b]))
        assert ids.tolist() == [int(vocab.byte_token_ids[b])]
    ids = vocab.encode(b"\xed\xa0\x80")
    assert ids.tolist() == [int(vocab.byte_token_ids[x]) for x in b"\xed\xa0\x80"]


def test_valid_text_matches_tokenizers(vocab):
    text = "The quick brown fox jumps over the lazy dog's back, twice.\n\n\u00e9t\u00e9 \u4e2d\u6587"
    expected = vocab._tokenizer.encode(text, add_special_tokens=False).ids
    assert vocab.encode(text.encode()).tolist() == expected


def test_text_is_compressed(vocab):
    data = b"the quick brown fox jumps over the lazy dog " * 50
    ids = roundtrip(vocab, data)
    assert len(ids) < len(data) / 3


@pytest.mark.parametrize(
    "make",
    [
        bytes,
        bytearray,
        memoryview,
        lambda b: np.frombuffer(b, dtype=np.uint8),
        lambda b: memoryview(b"x" + b)[1:],
    ],
    ids=["bytes", "bytearray", "memoryview", "ndarray", "memoryview_slice"],
)
def test_bytes_like_inputs(vocab, make):
    data = b"caf\xc3\xa9 \xff\x00 text"
    ids = vocab.encode(make(data))
    assert vocab.decode(ids) == data
    assert ids.tolist() == vocab.encode(data).tolist()


def test_non_contiguous_memoryview(vocab):
    data = bytes(range(256)) * 2
    mv = memoryview(data)[::2]
    assert vocab.decode(vocab.encode(mv)) == mv.tobytes()


def test_str_input_rejected(vocab):
    with pytest.raises(TypeError):
        vocab.encode("text")


def test_decode_accepts_sequences(vocab):
    data = b"Hello, world! \xff"
    ids = vocab.encode(data)
    for form in (ids.tolist(), tuple(ids.tolist()), ids.astype(np.int64),
                 ids.astype(np.uint32), ids.astype(np.uint16) if vocab.size <= 65536 else ids,
                 list(map(np.int64, ids))):
        assert vocab.decode(form) == data


@pytest.mark.parametrize("bad", [[-1], [10**6], [0, 1, 1 << 40], [2**70]])
def test_decode_out_of_range(vocab, bad):
    with pytest.raises(StateSMixError):
        vocab.decode(bad)


def test_decode_size_boundary(vocab):
    vocab.decode([vocab.size - 1])
    with pytest.raises(StateSMixError):
        vocab.decode([vocab.size])


def test_decode_rejects_floats(vocab):
    with pytest.raises(StateSMixError):
        vocab.decode(np.array([1.5, 2.0]))


def test_random_binary(any_vocab):
    rng = np.random.default_rng(1234)
    data = rng.integers(0, 256, size=100_000, dtype=np.uint8).tobytes()
    roundtrip(any_vocab, data)


def test_binary_with_repeated_runs(vocab):
    # Many repeated short valid runs between invalid bytes (dedup path).
    data = b"".join(b"ab\xffc d\xfe" + bytes([i % 128]) + b"\x80" for i in range(5000))
    roundtrip(vocab, data)


def test_random_binary_is_linear_time(vocab):
    data = np.random.default_rng(7).integers(0, 256, size=512 * 1024, dtype=np.uint8).tobytes()
    t0 = time.perf_counter()
    ids = vocab.encode(data)
    elapsed = time.perf_counter() - t0
    assert vocab.decode(ids) == data
    # ~0.4 s here; a quadratic algorithm would take minutes.
    assert elapsed < 10, elapsed


def test_chunked_encoding_matches_whole(vocab, monkeypatch):
    """Cutting long runs at 'safe' points must not change the ids."""
    parts = [
        "Word\n\nNext line\r\n\r\nCRLF para\r\nx\n  indented\n\tTab\n",
        "{{tmpl}}\n[[link]]\n* item\n''bold''\n== H ==\n\u00e9\u00e8\n",
        "end.\n\n\n(paren)\nnum 123\n456\n'quote\n\"dq\n",
    ]
    text = "".join(parts) * 40
    whole = vocab._tokenizer.encode(text, add_special_tokens=False).ids
    monkeypatch.setattr(T, "_CHUNK_MIN", 64)
    monkeypatch.setattr(T, "_CHUNK_TARGET", 16)
    assert len(T._split_safe(text)) > 50
    assert "".join(T._split_safe(text)) == text
    assert vocab.encode(text.encode()).tolist() == whole
    # Same through the invalid-byte path.
    data = b"\xff" + text.encode() + b"\xfe" + text.encode()
    roundtrip(vocab, data)


def test_byte_to_unicode_table():
    from tokenizers import pre_tokenizers

    table = T.byte_to_unicode_table()
    assert len(table) == 256 and len(set(table)) == 256
    assert set(table) == set(pre_tokenizers.ByteLevel.alphabet())
    assert table[ord("A")] == "A" and table[ord(" ")] == "\u0120" and table[0] == "\u0100"


# ---------------------------------------------------------------- property tests

@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_property_binary(data):
    v = T.get_vocabulary(T.default_vocabulary_id())
    ids = v.encode(data)
    assert ids.dtype == np.int32
    assert v.decode(ids) == data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=500).map(lambda s: s.encode("utf-8")))
def test_property_text(data):
    v = T.get_vocabulary(T.default_vocabulary_id())
    ids = v.encode(data)
    assert v.decode(ids) == data
    expected = v._tokenizer.encode(data.decode("utf-8"), add_special_tokens=False).ids
    assert ids.tolist() == expected


@settings(max_examples=120, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=30).map(lambda s: s.encode("utf-8")),
            st.text(
                alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3
            ).map(lambda s: s.encode("utf-8", "surrogatepass")),
            st.binary(max_size=4),
        ),
        max_size=20,
    ).map(b"".join),
    st.sampled_from(ALL_IDS),
)
def test_property_mixed_all_vocabularies(data, vid):
    v = T.get_vocabulary(vid)
    ids = v.encode(data)
    assert ids.size == 0 or int(ids.max()) < v.size
    assert v.decode(ids) == data


# ---------------------------------------------------------------- registry

def test_registry_shape():
    entries = T.list_vocabularies()
    assert entries, "no vocabularies registered"
    ids = [e["id"] for e in entries]
    assert len(set(ids)) == len(ids) and all(isinstance(i, int) and i >= 1 for i in ids)
    names = [e["name"] for e in entries]
    assert len(set(names)) == len(names)
    assert T.default_vocabulary_id() in ids
    for e in entries:
        for key in ("id", "name", "file", "size", "sha256", "corpus", "params"):
            assert key in e, (e.get("name"), key)


def test_list_vocabularies_returns_copies():
    a = T.list_vocabularies()
    a[0]["name"] = "mutated"
    assert T.list_vocabularies()[0]["name"] != "mutated"


@pytest.mark.parametrize("vid", ALL_IDS)
def test_registered_vocabulary_loads(vid):
    entry = next(e for e in T.list_vocabularies() if e["id"] == vid)
    v = T.get_vocabulary(vid)
    assert T.get_vocabulary(vid) is v  # cached
    assert v.id == vid and v.name == entry["name"]
    assert v.size == entry["size"] == len(v.token_bytes)
    assert isinstance(v.sha256, bytes) and len(v.sha256) == 32
    assert v.sha256.hex() == entry["sha256"]
    raw = T._read_data_file(entry["file"])
    assert hashlib.sha256(raw).hexdigest() == entry["sha256"]
    # All 256 single-byte tokens exist and byte_token_ids points at them.
    singles = {tb for tb in v.token_bytes if len(tb) == 1}
    assert singles == {bytes([b]) for b in range(256)}
    for b in range(256):
        assert v.token_bytes[v.byte_token_ids[b]] == bytes([b])
    assert all(len(tb) >= 1 for tb in v.token_bytes)
    assert len(set(v.token_bytes)) == v.size
    # The token table agrees with the tokenizer's own vocabulary.
    spec = json.loads(raw)
    table = T.byte_to_unicode_table()
    for tok, i in list(spec["model"]["vocab"].items())[:: max(1, v.size // 500)]:
        assert "".join(table[x] for x in v.token_bytes[i]) == tok


def test_data_files_next_to_package_when_not_installed():
    d = T._data_dir()
    assert d.joinpath("vocabularies.json").is_file()


@pytest.mark.parametrize("bad", [0, -1, 999, 10**9])
def test_unknown_id_raises(bad):
    with pytest.raises(StateSMixError):
        T.get_vocabulary(bad)


@pytest.mark.parametrize("bad", ["1", 1.0, None, True])
def test_non_integer_id_raises(bad):
    with pytest.raises(StateSMixError):
        T.get_vocabulary(bad)


def test_numpy_integer_id_accepted():
    vid = T.default_vocabulary_id()
    assert T.get_vocabulary(np.int64(vid)) is T.get_vocabulary(vid)


def test_hash_mismatch_raises(monkeypatch):
    vid = T.default_vocabulary_id()
    entry = next(e for e in T.list_vocabularies() if e["id"] == vid)
    real = T._read_data_file

    def tampered(rel):
        raw = real(rel)
        return raw + b" " if rel == entry["file"] else raw

    monkeypatch.setattr(T, "_vocab_cache", {})
    monkeypatch.setattr(T, "_read_data_file", tampered)
    with pytest.raises(StateSMixError, match="sha256"):
        T.get_vocabulary(vid)


def test_errors_module():
    assert issubclass(StateSMixError, Exception)


# ---------------------------------------------------------------- real text

@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not present at {CORPUS}")
def test_corpus_files_roundtrip(vocab):
    files = sorted(p for p in CORPUS.iterdir() if p.is_file())
    assert files
    before = vocab.fallback_runs
    for p in files:
        data = p.read_bytes()
        ids = roundtrip(vocab, data)
        assert len(data) / len(ids) > 3.0, p.name  # trained on it: compresses well
        # Mangle it with invalid bytes: still lossless.
        bad = bytearray(data[:50_000])
        bad[1000::997] = b"\xff" * len(bad[1000::997])
        roundtrip(vocab, bytes(bad))
    assert vocab.fallback_runs == before, "a tokenizers encoding did not round-trip"


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not present at {CORPUS}")
def test_corpus_sample_all_vocabularies(any_vocab):
    data = (CORPUS / sorted(os.listdir(CORPUS))[0]).read_bytes()[:200_000]
    ids = roundtrip(any_vocab, data)
    whole = any_vocab._tokenizer.encode(data.decode("utf-8", "ignore"), add_special_tokens=False)
    if data.decode("utf-8", "replace") == data.decode("utf-8", "ignore"):
        assert ids.tolist() == whole.ids
    assert any_vocab.fallback_runs == 0
