"""Thread scaling and cross-machine checks for statesmix.

    python bench/scaling.py --file F [--preset ssm] [--threads 1,2,4] [--save OUT.ssx]
                            [--check OTHER.ssx --original F]

Compresses F once per thread count, checks that every thread count gives the
same bytes, decompresses the last result and prints one JSON line per run
(seconds, tokens/s, KB/s, peak RSS).  --check decodes a stream made on another
machine and compares it with --original.
"""
import argparse
import hashlib
import json
import os
import platform
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import statesmix  # noqa: E402


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file")
    ap.add_argument("--preset", default=None)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--save")
    ap.add_argument("--check")
    ap.add_argument("--original")
    args = ap.parse_args(argv)
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "simd": statesmix.core.simd_enabled()}
    print(json.dumps(info), flush=True)
    status = 0
    if args.check:
        blob = open(args.check, "rb").read()
        want = open(args.original, "rb").read()
        t = time.time()
        got = statesmix.decompress(blob)
        ok = got == want
        print(json.dumps({"check": args.check, "identical": ok, "seconds": round(time.time() - t, 2),
                          "sha256": hashlib.sha256(got).hexdigest()}), flush=True)
        status |= 0 if ok else 1
    if args.file:
        data = open(args.file, "rb").read()
        first = None
        for n in [int(x) for x in args.threads.split(",")]:
            c = statesmix.StateSMixCompressor(preset=args.preset, threads=n, content_size=len(data))
            t = time.time()
            blob = c.compress(data) + c.flush()
            dt = time.time() - t
            st = c.stats()
            same = first is None or blob == first
            first = first or blob
            status |= 0 if same else 1
            print(json.dumps({"threads": n, "bytes": len(blob), "seconds": round(dt, 2),
                              "tokens_per_s": round(st["tokens"] / dt), "kb_per_s": round(len(data) / 1024 / dt, 1),
                              "identical_to_first": same,
                              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}),
                  flush=True)
        t = time.time()
        ok = statesmix.decompress(first) == data
        print(json.dumps({"roundtrip": ok, "decompress_seconds": round(time.time() - t, 2)}), flush=True)
        status |= 0 if ok else 1
        if args.save:
            with open(args.save, "wb") as f:
                f.write(first)
    return status


if __name__ == "__main__":
    sys.exit(main())
