"""-l / --list: sizes, ratio and settings of .ssx files, from the container
structure alone (container.walk), and the frames (streams) of a file of
several with its frame index checked; with -v the files are decoded too,
for the model's statistics."""
import os
import stat
import sys

from .. import container as ct
from ..presets import preset_name, stream_config, stream_memory
from ..reader import StreamReader
from ..tokenizer import get_vocabulary, list_vocabularies
from ..units import fmt_bytes
from .console import STDIN_NAME, CLIError
from .driver import CHUNK

_ROW = "%5s %6s %12s %13s %6s %6s  %-8s %5s  %-14s %8s  %s"
_FRAME_ROW = "  %7s %12s %12s %13s %6s %6s"
_STATS = ("tokens", "new_tokens", "ideal_bits", "payload_bytes", "vocab_bytes", "live")


def _print(text):
    if sys.stdout is None:
        raise CLIError("standard output is closed")
    sys.stdout.write(text + "\n")


def _print_row(*cols):
    _print(_ROW % tuple(cols))


def _vocab_name(vid):
    for e in list_vocabularies():
        if e.get("id") == vid:
            return e.get("name", "?")
    return "unknown"


def _describe(values, fmt):
    vals = sorted(set(values), key=str)
    return fmt(vals[0]) if len(vals) == 1 else "mixed"


def _ratio(compressed, raw):
    return ("%.3f" % (compressed / raw), "%.3f" % (8.0 * compressed / raw)) if raw else ("-", "-")


def _index_state(layout):
    """What the file's frame indexes say, in words."""
    if layout.damaged_index is not None:
        return "damaged at offset %d (ignored; frames found by a scan)" % layout.damaged_index
    if not layout.indexes:
        return "none"
    n = sum(frames for _, frames in layout.indexes)
    return "%d checked, %d frame%s" % (len(layout.indexes), n, "" if n == 1 else "s")


def _frame_lines(layout):
    """A row per frame (stream) and the state of the index."""
    lines = [_FRAME_ROW % ("Frame", "Offset", "Compressed", "Uncompressed", "Ratio", "bpb")]
    for i, s in enumerate(layout.streams, 1):
        lines.append(_FRAME_ROW % ((i, s["offset"], s["compressed"], s["size"])
                                   + _ratio(s["compressed"], s["size"])))
    lines.append("  Index: %s" % _index_state(layout))
    return lines


def _memory_needed(headers):
    """The decompressing estimate of the most demanding stream, and whether
    every stream's figure is the one its encoder measured."""
    need = 0
    for h in headers:
        cfg = stream_config(h, get_vocabulary(h.vocab_id).size)
        need = max(need, stream_memory(h, cfg))
    return need, all(h.memory for h in headers)


def _decoded_stats(f, args):
    """The summed model statistics of every stream, decoding the file."""
    f.seek(0)
    reader = StreamReader(f, threads=args.threads, memory_limit=args.memory_limit)
    while reader.read(CHUNK):
        pass
    total = dict.fromkeys(_STATS, 0)
    for _, s in reader.streams:
        for k in _STATS:
            total[k] += s.get(k, 0)
    return total


def _list_one(src, args, totals):
    if src == "-":
        raise CLIError("--list does not read standard input")
    if stat.S_ISDIR(os.stat(src).st_mode):
        raise CLIError("is a directory, skipping")
    with open(src, "rb") as f:
        layout = ct.walk(f)
        streams = layout.streams
        size = f.seek(0, os.SEEK_END)
        st = _decoded_stats(f, args) if args.verbose else None
    raw = sum(s["size"] for s in streams)
    blocks = sum(s["blocks"] for s in streams)
    stored = sum(s["stored"] for s in streams)
    headers = [s["header"] for s in streams]
    ratio, bpb = _ratio(size, raw)
    preset = _describe([h.preset for h in headers], preset_name)
    level = _describe([h.level for h in headers], lambda v: str(v) if v else "-")
    vocab = _describe([h.vocab_id for h in headers], lambda v: "%d:%s" % (v, _vocab_name(v)))
    block = _describe([h.block_size for h in headers], fmt_bytes)
    for key, n in (("files", 1), ("streams", len(streams)), ("blocks", blocks),
                   ("compressed", size), ("size", raw)):
        totals[key] += n
    frames = _frame_lines(layout) if len(streams) > 1 or layout.indexes \
        or layout.damaged_index is not None else []
    if st is None:
        _print_row(len(streams), blocks, size, raw, ratio, bpb, preset, level, vocab,
                   block, src)
        if frames:
            _print("\n".join(frames))
        return
    pay = st["payload_bytes"]
    need, measured = _memory_needed(headers)
    overhead = "%.4f %%" % (100.0 * (8 * pay - st["ideal_bits"]) / (8 * pay)) if pay else "-"
    _print("\n".join([
        src,
        "  Streams:              %d" % len(streams),
        "  Blocks:               %d (%d stored)" % (blocks, stored),
        "  Compressed size:      %d B (%s)" % (size, fmt_bytes(size)),
        "  Uncompressed size:    %d B (%s)" % (raw, fmt_bytes(raw)),
        "  Ratio:                %s" % ratio,
        "  Bits per byte (bpb):  %s" % bpb,
        "  Preset:               %s" % preset,
        "  Level:                %s" % level,
        "  Format version:       %s" % _describe([h.version for h in headers], str),
        "  Vocabulary:           %s" % vocab,
        "  Block size:           %s" % block,
        "  Tokens:               %d" % st["tokens"],
        "  Live vocabulary:      %d tokens" % st["live"],
        "  New-token lists:      %d B (%d tokens)" % (st["vocab_bytes"], st["new_tokens"]),
        "  Ideal code length:    %.1f bits (%.1f B)" % (st["ideal_bits"],
                                                        st["ideal_bits"] / 8),
        "  Range-coder payload:  %d B" % pay,
        "  Coder overhead:       %s" % overhead,
        "  Memory needed:        %s (%s)" % (fmt_bytes(need), "as the encoder measured it"
                                            if measured else "the configuration's bound"),
        "  Check:                xxHash64 OK",
    ] + frames))


def list_files(files, args, con):
    """List every file; the exit status (0, or 1 if one failed)."""
    totals = dict.fromkeys(("files", "streams", "blocks", "compressed", "size"), 0)
    if not args.verbose:
        _print_row("Strms", "Blocks", "Compressed", "Uncompressed", "Ratio", "bpb",
                   "Preset", "Level", "Vocabulary", "Block", "Filename")
    status = 0
    for src in files:
        status |= con.guard(src if src != "-" else STDIN_NAME,
                            lambda: _list_one(src, args, totals))
    if totals["files"] > 1:
        raw, size = totals["size"], totals["compressed"]
        ratio, bpb = _ratio(size, raw)
        if args.verbose:
            _print("Totals: %d files, %d streams, %d blocks, %d -> %d B, ratio %s, %s bpb"
                   % (totals["files"], totals["streams"], totals["blocks"], size, raw,
                      ratio, bpb))
        else:
            _print("-" * 20)
            _print_row(totals["streams"], totals["blocks"], size, raw, ratio, bpb,
                       "", "", "", "", "%d files" % totals["files"])
    return status
