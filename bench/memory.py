"""Memory: the header's estimate against the measured peak, per preset.

    PYTHONPATH=. python -m bench.memory FILE [--presets all|a,b,...] [--threads 2]

For each preset, a child process compresses FILE and another decompresses
the result; each reports its own peak RSS (VmHWM from /proc, which unlike
ru_maxrss does not count the forked parent's pages).  The table gives
presets.memory_estimate (compressing and decompressing) beside the peaks:
an estimate must bound its peak, and the header's stay under 1.5x it, as
tests/test_memory.py checks on a 5 KB input.  Writes markdown to --out
(default bench/results/memory.md) and exits 1 where a bound fails.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from statesmix import presets
from statesmix.container import parse_header
from statesmix.tokenizer import default_vocabulary_id, get_vocabulary

from .machine import cpu_model, git_commit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = """
import sys, time, statesmix
data = open(sys.argv[1], "rb").read()
t = time.time()
if sys.argv[3] == "c":
    out = statesmix.compress(data, preset=sys.argv[2], threads=int(sys.argv[4]))
    open(sys.argv[5], "wb").write(out)
else:
    out = statesmix.decompress(data, threads=int(sys.argv[4]))
    assert out == open(sys.argv[5], "rb").read(), "round trip"
wall = time.time() - t
with open("/proc/self/status") as f:
    print([int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:")][0], wall)
"""


def _child(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", _CHILD] + [str(a) for a in args], env=env,
                       capture_output=True, text=True, check=True)
    peak, wall = r.stdout.split()[-2:]
    return int(peak), float(wall)


def measure(path, preset, threads):
    """(estimate_c, peak_c, estimate_d, peak_d, compressed bytes, bound_d) of
    a preset: compressing, the configuration's bound (no data seen yet);
    decompressing, the header's estimate (the model memory compress()
    recorded) and the bound a header without that record would give."""
    with tempfile.TemporaryDirectory() as tmp:
        packed = os.path.join(tmp, "out.ssx")
        peak_c, _ = _child(path, preset, "c", threads, packed)
        peak_d, _ = _child(packed, preset, "d", threads, path)
        blob = open(packed, "rb").read()
    header, _ = parse_header(blob, 0)
    vocab = get_vocabulary(default_vocabulary_id())
    config = presets.stream_config(header, vocab.size)
    est_c, bound_d = (presets.memory_estimate(config, header.block_size, header.content_size,
                                              compressing=c) for c in (True, False))
    return est_c, peak_c, presets.stream_memory(header, config), peak_d, len(blob), bound_d


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--presets", default="all")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join("bench", "results", "memory.md"))
    args = ap.parse_args(argv)
    names = sorted(presets.BY_NAME) if args.presets == "all" else args.presets.split(",")
    mb = 1e6
    lines = ["# Memory: estimate against peak", "",
             "%s (%s bytes), %s, %d thread(s), commit %s, %s. Peak RSS (VmHWM) of a "
             "process that compresses, and of one that decompresses; the estimate is "
             "`presets.memory_estimate` of the stream's header (what `--memory-limit` "
             "compares): compressing, the bound of the configuration for the input's "
             "size (no data seen yet), which must be at least the peak; decompressing, "
             "the header's estimate, from the memory the encoder's model took "
             "(FLAG_MEMORY), which must be at least the peak and at most 1.5x it; "
             "beside it the bound a header without that record gives "
             "(`python -m bench.memory`)." % (
                 os.path.basename(args.file), "{:,}".format(os.path.getsize(args.file)),
                 cpu_model(), args.threads, (git_commit(ROOT) or "?")[:12],
                 time.strftime("%Y-%m-%d")), "",
             "| preset | bytes | compress: peak MB | estimate MB | ratio | "
             "decompress: peak MB | estimate MB | ratio | bound MB | ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    bad = []
    for name in names:
        ec, pc, ed, pd, size, bd = measure(args.file, name, args.threads)
        for what, e, p, most in (("compress", ec, pc, None), ("decompress", ed, pd, 1.5)):
            if not p <= e or (most and e > most * p):
                bad.append("%s %s: peak %.1f MB, estimate %.1f MB" % (name, what, p / mb, e / mb))
        lines.append("| `%s` | %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %.1f | %.2f |" % (
            name, "{:,}".format(size), pc / mb, ec / mb, ec / pc, pd / mb, ed / mb, ed / pd,
            bd / mb, bd / pd))
        print(lines[-1], flush=True)
    lines += ["", "Every estimate bounds its peak; the headers' within 1.5x." if not bad else
              "Out of bounds: " + "; ".join(bad) + "."]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
