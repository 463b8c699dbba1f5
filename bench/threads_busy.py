"""Threads on a busy machine: `statesmix -c FILE` by default and with -T 2,
on a quiet machine and beside one CPU-bound busy loop per core, for this
tree and for an older one (its extension built in place), in alternation.

    PYTHONPATH=. python -m bench.threads_busy FILE --old ../old-tree [--repeat 3]

Every run waits for a quiet machine (bench.quiet; the busy loops are ours
and do not count) and is repeated when other processes took CPU during it.
Neither tree's OpenMP settings come from this process: GOMP_SPINCOUNT and
OMP_WAIT_POLICY are taken out of the children's environment.  Writes a
markdown table (median wall seconds, busy/quiet) to --out.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench.quiet import timed

SETTINGS = (("default", []), ("-T 2", ["-T", "2"]))


def _env(root):
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env["PYTHONPATH"] = root
    return env


def _hogs(n):
    return [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(n)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--old", required=True, help="an older source tree, built in place")
    ap.add_argument("--new", default=".", help="this tree (default: .)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=os.path.join("bench", "results", "threads.md"))
    args = ap.parse_args(argv)
    trees = (("before", os.path.abspath(args.old)), ("after", os.path.abspath(args.new)))
    n_hogs = len(os.sched_getaffinity(0))
    times = {}
    log = []
    for i in range(args.repeat):
        for busy in (False, True):
            for label, root in trees:
                for name, opts in SETTINGS:
                    hogs = _hogs(n_hogs) if busy else []
                    try:
                        time.sleep(0.5 if hogs else 0)
                        run = timed([sys.executable, "-m", "statesmix", "-c"] + opts
                                    + [args.file], env=_env(root),
                                    own=[h.pid for h in hogs])
                    finally:
                        for h in hogs:
                            h.kill()
                            h.wait()
                    key = (label, name, busy)
                    times.setdefault(key, []).append(run["wall"])
                    entry = dict(i=i, tree=label, setting=name, busy=busy,
                                 **{k: round(v, 2) if isinstance(v, float) else v
                                    for k, v in run.items()})
                    log.append(entry)
                    print(json.dumps(entry), flush=True)
    size = os.path.getsize(args.file)
    lines = ["# Threads on a busy machine", "",
             "`statesmix -c` of %s (%d bytes), the median of %d alternating runs, "
             "wall seconds; busy: beside %d CPU-bound busy loops (one per core). "
             "%s." % (os.path.basename(args.file), size, args.repeat, n_hogs,
                      time.strftime("%Y-%m-%d")), "",
             "| tree | setting | quiet s | busy s | busy / quiet |", "|---|---|---:|---:|---:|"]
    for label, _ in trees:
        for name, _ in SETTINGS:
            q = statistics.median(times[(label, name, False)])
            b = statistics.median(times[(label, name, True)])
            lines.append("| %s | %s | %.2f | %.2f | %.1fx |" % (label, name, q, b, b / q))
    lines += ["", "Runs (JSON lines):", "", "```"] + [json.dumps(e) for e in log] + ["```", ""]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines[:8 + 2 * len(SETTINGS)]))


if __name__ == "__main__":
    main()
