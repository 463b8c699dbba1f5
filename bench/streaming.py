"""Streaming output: what reading the start of a large file costs, and the
peak memory of `statesmix -d` against the block size.

    PYTHONPATH=. python -m bench.streaming ../shared/data/enwik6 --size 4e6

compresses the first SIZE bytes of FILE (repeated to reach SIZE if it is
shorter) with the default preset, once with 1 MiB blocks and once with
4 MiB blocks (minutes each: run it on a quiet machine), then for each
stream measures the time and the tokens decoded to read its first 100
bytes through statesmix.open(), and the peak RSS of `statesmix -d -c` in a
child process (os.wait4).  The decoder holds a block's compressed body and
a step of output, never a decoded block, so the peak should differ by the
model's own block buffers only.  Results: bench/results/streaming.md.
"""
import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import statesmix
from statesmix.units import fmt_bytes

BLOCKS = (1 << 20, 4 << 20)


def _input(path, size):
    with open(path, "rb") as f:
        data = f.read(size)
    if not data:
        raise SystemExit("bench.streaming: %s is empty" % path)
    return (data * (size // len(data) + 1))[:size]


def _first_100(path, threads):
    t0 = time.perf_counter()
    with statesmix.open(path, threads=threads) as f:
        head = f.read(100)
        tokens = f._buffer.raw._decomp.stats().get("tokens", 0)
    return time.perf_counter() - t0, tokens, head


def _peak_rss_of_decompression(path, threads):
    proc = subprocess.Popen([sys.executable, "-m", "statesmix", "-d", "-c", "-T", str(threads),
                             path], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit("bench.streaming: statesmix -d failed on %s" % path)
    return usage.ru_maxrss * 1024      # KiB on Linux


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--size", type=float, default=4e6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join("bench", "results", "streaming.md"))
    args = ap.parse_args(argv)
    data = _input(args.file, int(args.size))
    rows = []
    with tempfile.TemporaryDirectory(prefix="statesmix-streaming-") as tmp:
        for bs in BLOCKS:
            path = os.path.join(tmp, "in-%d.ssx" % bs)
            t0 = time.perf_counter()
            with statesmix.open(path, "wb", threads=args.threads, block_size=bs) as f:
                f.write(data)
            secs = time.perf_counter() - t0
            first, tokens, head = _first_100(path, args.threads)
            assert head == data[:100]
            rss = _peak_rss_of_decompression(path, args.threads)
            rows.append((bs, os.path.getsize(path), secs, first, tokens, rss))
            print("block %s: %d bytes in %.1f s; first 100 bytes in %.3f s (%d tokens); "
                  "statesmix -d peak RSS %s" % (fmt_bytes(bs), rows[-1][1], secs, first, tokens,
                                                fmt_bytes(rss)), file=sys.stderr, flush=True)
    lines = ["# Streaming output on %s bytes of `%s`" % ("{:,}".format(len(data)),
                                                       os.path.basename(args.file)), "",
             "statesmix %s, default preset, %d thread(s), %s, %s." % (
                 statesmix.__version__, args.threads, platform.processor() or platform.machine(),
                 time.strftime("%Y-%m-%d")), "",
             "| block size | compressed bytes | compress s | first 100 bytes, s | tokens "
             "decoded for them | `statesmix -d` peak RSS |", "|---|---:|---:|---:|---:|---:|"]
    for bs, size, secs, first, tokens, rss in rows:
        lines.append("| %s | %s | %.1f | %.3f | %d | %s |" % (
            fmt_bytes(bs), "{:,}".format(size), secs, first, tokens, fmt_bytes(rss)))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
