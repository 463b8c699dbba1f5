"""Two statesmix runs side by side: compress a file and decompress the
result, or the same job with two builds, alternating, so that the
machine's drift falls on both alike; the claim is the median of the
pairs' ratios.

    PYTHONPATH=. python -m bench.pairs FILE [--repeat 3] [-T N] [--args "-6"]
        [--build PATH --build PATH]

With one build (the default: this checkout) it times `-c -T N ARGS FILE`
and `-d -c -T N` of that output in turn and gives decompress / compress.  With two
`--build` checkouts (each built in place) it times compression with each
in turn, checks that they give the same bytes, and gives second / first.
Every run goes through bench.quiet (it waits for a quiet machine and is
repeated when other processes took CPU during it); every decompression is
checked against FILE.
"""
import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile

from bench.quiet import timed
from bench.util import sha256_file


def _cmd(build, *args):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(build))
    return [sys.executable, "-m", "statesmix"] + [str(a) for a in args], env


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("-T", "--threads", help="statesmix -T for both (default: its own choice)")
    ap.add_argument("--args", default="", help="statesmix options for compression")
    ap.add_argument("--no-wait", action="store_true",
                    help="run at once, whatever the load (the times are then indicative only)")
    ap.add_argument("--build", action="append", default=[],
                    help="a checkout to run (twice: compare two builds)")
    args = ap.parse_args(argv)
    builds = args.build or [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    if len(builds) > 2:
        ap.error("at most two --build")
    threads = ["-T", args.threads] if args.threads else []
    opts = threads + shlex.split(args.args)
    want = sha256_file(args.file)
    runs, ratios = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            walls, digests = [], set()
            for i, build in enumerate(builds):
                ssx = os.path.join(tmp, "%d.ssx" % i)
                cmd, env = _cmd(build, "-c", *opts, args.file)
                r = timed(cmd, stdout=ssx, env=env, wait=not args.no_wait)
                r.update(op="compress", build=build, rep=rep, bytes=os.path.getsize(ssx))
                runs.append(r)
                walls.append(r["wall"])
                digests.add(sha256_file(ssx))
                print(json.dumps(r), flush=True)
                if len(builds) == 1:
                    back = os.path.join(tmp, "back")
                    cmd, env = _cmd(build, "-d", "-c", *threads, ssx)
                    r = timed(cmd, stdout=back, env=env, wait=not args.no_wait)
                    r.update(op="decompress", build=build, rep=rep,
                             verified=sha256_file(back) == want)
                    runs.append(r)
                    walls.append(r["wall"])
                    print(json.dumps(r), flush=True)
                    if not r["verified"]:
                        raise SystemExit("bench.pairs: the round trip differs")
            if len(digests) != 1:
                raise SystemExit("bench.pairs: the two builds give different bytes")
            ratios.append(walls[1] / walls[0])
    first, second = ("compress", "decompress") if len(builds) == 1 else builds
    result = {"first": first, "second": second, "ratios": ratios,
              "median": statistics.median(ratios)}
    print("%s: median %.2f s; %s: median %.2f s; %s / %s per pair: %s; median %.3f" % (
        first, statistics.median(r["wall"] for r in runs[0::2]),
        second, statistics.median(r["wall"] for r in runs[1::2]), second, first,
        ", ".join("%.3f" % x for x in ratios), statistics.median(ratios)))
    return result


if __name__ == "__main__":
    main()
