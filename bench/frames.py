"""Frames: what independent frames cost in ratio and give in speed.

    PYTHONPATH=. python -m bench.frames FILE [--frame-sizes 1M,4M,16M] [--threads 1,2]

compresses FILE with one model and with frames of each size, with each
thread count (-T: model threads for one model, worker processes for
frames), checks that the thread counts give the same bytes, decompresses
each result with each thread count and checks it, all through the command
line tool in child processes (bench.quiet: each run waits for a quiet
machine and is repeated when other processes took CPU during it;
--no-wait runs at once and the CPU seconds are what means something).
Writes a markdown table to --out and the runs as JSON beside it.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from bench.quiet import timed
from bench.util import sha256_file
from statesmix.cli import parse_size
from statesmix.units import fmt_bytes


def _cmd(*args):
    return [sys.executable, "-m", "statesmix"] + [str(a) for a in args]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--frame-sizes", default="1M,4M,16M")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--level", type=int, default=None)
    ap.add_argument("--no-single", action="store_true",
                    help="leave out one model: the first frame size is the reference")
    ap.add_argument("--no-wait", action="store_true")
    ap.add_argument("--out", default=os.path.join("bench", "results", "frames.md"))
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    sizes = ([] if args.no_single else [None]) + [parse_size(s) for s in args.frame_sizes.split(",")]
    level = ["-%d" % args.level] if args.level else []
    raw = os.path.getsize(args.file)
    want = sha256_file(args.file)
    runs, out = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            for fs in sizes:
                frame = ["--frame-size", fs] if fs else []
                for t in threads:
                    dest = os.path.join(tmp, "%s-%d.ssx" % (fs, t))
                    r = timed(_cmd("-c", "-T", t, *level, *frame, args.file), stdout=dest,
                              wait=not args.no_wait)
                    r.update(op="compress", frame=fs, threads=t, rep=rep,
                             bytes=os.path.getsize(dest))
                    runs.append(r)
                    print(json.dumps(r), flush=True)
                    out.setdefault(fs, set()).add(sha256_file(dest))
                    back = os.path.join(tmp, "back")
                    r = timed(_cmd("-d", "-c", "-T", t, dest), stdout=back,
                              wait=not args.no_wait)
                    r.update(op="decompress", frame=fs, threads=t, rep=rep,
                             verified=sha256_file(back) == want)
                    runs.append(r)
                    print(json.dumps(r), flush=True)
                    if not r["verified"]:
                        raise SystemExit("bench.frames: the round trip differs (%s, -T %d)"
                                         % (fs, t))
    for fs, digests in out.items():
        if len(digests) != 1:
            raise SystemExit("bench.frames: the output depends on -T (frame size %s)" % fs)

    def med(op, fs, t, key="wall"):
        return statistics.median(r[key] for r in runs
                                 if r["op"] == op and r["frame"] == fs and r["threads"] == t)

    # the reference: one model, or the largest frames
    single = next(r["bytes"] for r in runs if r["frame"] == sizes[0])
    t1, tn = threads[0], threads[-1]
    lines = ["# Frames: ratio against speed", "",
             "%s, %d bytes; %s; the median of %d run(s) per cell; wall seconds (CPU "
             "seconds), through the command line tool; -T: model threads for one "
             "model, worker processes (one model thread each) for frames.  %s%s." % (
                 os.path.basename(args.file), raw,
                 "level %d" % args.level if args.level else "the default level",
                 args.repeat, time.strftime("%Y-%m-%d"),
                 "" if not args.no_wait else "; NOT on a quiet machine: wall times "
                 "are indicative only"), "",
             "| frames | bytes | bpb | vs %s | compress -T %d | compress -T %d | "
             "speed-up | decompress -T %d | decompress -T %d | speed-up |"
             % ("one model" if sizes[0] is None else fmt_bytes(sizes[0]), t1, tn, t1, tn),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for fs in sizes:
        size = next(r["bytes"] for r in runs if r["frame"] == fs)
        c1, cn = med("compress", fs, t1), med("compress", fs, tn)
        d1, dn = med("decompress", fs, t1), med("decompress", fs, tn)
        lines.append("| %s | %d | %.3f | %+.2f %% | %.0f (%.0f) | %.0f (%.0f) | %.2fx | "
                     "%.0f (%.0f) | %.0f (%.0f) | %.2fx |" % (
                         "one model" if fs is None else fmt_bytes(fs), size, 8 * size / raw,
                         100.0 * (size - single) / single,
                         c1, med("compress", fs, t1, "cpu"), cn, med("compress", fs, tn, "cpu"),
                         c1 / cn, d1, med("decompress", fs, t1, "cpu"), dn,
                         med("decompress", fs, tn, "cpu"), d1 / dn))
    if args.repeat > 1:
        # the timing claim: -T 1 and -T N alternate, so each repetition is a
        # pair measured side by side; the median of the pairs' speed-ups
        def pairs(op, fs):
            by = {(r["rep"], r["threads"]): r["wall"] for r in runs
                  if r["op"] == op and r["frame"] == fs}
            return [by[rep, t1] / by[rep, tn] for rep in range(args.repeat)]
        lines += ["", "Speed-up of -T %d over -T %d per alternating pair, and their median:"
                  % (tn, t1), ""]
        for fs in sizes:
            for op in ("compress", "decompress"):
                p = pairs(op, fs)
                lines.append("- %s, %s: %s; median %.2fx" % (
                    "one model" if fs is None else fmt_bytes(fs), op,
                    ", ".join("%.2f" % x for x in p), statistics.median(p)))
    lines.append("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(runs, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
