"""Ablation of the learned mixing (StateSMix+): the `plus` preset with each
feature group switched off in turn (the SSX_MIX_NO_* component bits), plus the
`ngram-plus` preset, on one file.

    PYTHONPATH=. python -m bench.mix_ablation ../shared/data/enwik6 [--threads 2]
        [--verify] [--out bench/results/mix_ablation.md]

Every variant is a real stream: its header carries the switches, so
`statesmix.decompress` reads it back (--verify checks every one; the main
benchmark and the tests check the presets themselves).  Results go to a
Markdown table and a JSON file beside it.
"""
import argparse
import json
import os
import platform
import sys
import time

import statesmix
from statesmix import presets
from statesmix._core import lib

# the ablation switches of the learned mixing (component bits, csrc/statesmix.h)
NO_SSE, NO_NOVEL, NO_SHAPE, NO_CACHE, NO_SPARSE, NO_CLASS = (
    lib.SSX_MIX_NO_SSE, lib.SSX_MIX_NO_NOVEL, lib.SSX_MIX_NO_SHAPE, lib.SSX_MIX_NO_CACHE,
    lib.SSX_MIX_NO_SPARSE, lib.SSX_MIX_NO_CLASS)

VARIANTS = [
    ("plus", "plus", 0, "everything (the default)"),
    ("plus -sse", "plus", NO_SSE, "no secondary estimation of the top token"),
    ("plus -novel", "plus", NO_NOVEL, "no features for announced tokens not seen yet"),
    ("plus -shape", "plus", NO_SHAPE,
     "no per-context count-bucket, most-frequent and recency-rank terms"),
    ("plus -cache", "plus", NO_CACHE, "no recency rank among the last 8,192 distinct tokens"),
    ("plus -sparse", "plus", NO_SPARSE, "no sparse contexts (t-2; t-3 t-2; t-3)"),
    ("plus -class", "plus", NO_CLASS, "no token-class terms"),
    ("ngram-plus", "ngram-plus", 0, "learned mixing without the SSM"),
]


def run(data, preset, off, threads, verify):
    components = presets.PRESETS[presets.BY_NAME[preset]][1] | off
    t0 = time.perf_counter()
    c = statesmix.StateSMixCompressor(preset=preset, threads=threads,
                                      config={"components": components},
                                      content_size=len(data))
    comp = c.compress(data) + c.flush()
    secs = time.perf_counter() - t0
    if verify and statesmix.decompress(comp, threads=threads) != data:
        raise SystemExit("round trip failed for %s (switches %d)" % (preset, off))
    return len(comp), secs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verify", action="store_true", help="decompress and compare every variant")
    ap.add_argument("--only", help="comma-separated variant names")
    ap.add_argument("--out", default=os.path.join("bench", "results", "mix_ablation.md"))
    args = ap.parse_args(argv)
    with open(args.file, "rb") as f:
        data = f.read()
    only = set(args.only.split(",")) if args.only else None
    rows = []
    for name, preset, off, what in VARIANTS:
        if only and name not in only:
            continue
        size, secs = run(data, preset, off, args.threads, args.verify)
        rows.append({"variant": name, "preset": preset, "switches": off, "what": what,
                     "bytes": size, "bpb": 8.0 * size / len(data), "seconds": secs})
        print("%-14s %9d bytes %.4f bpb %6.1f s" % (name, size, rows[-1]["bpb"], secs),
              file=sys.stderr, flush=True)
    full = next((r["bytes"] for r in rows if r["variant"] == "plus"), None)
    lines = ["# Ablation of the learned mixing on `%s` (%d bytes)" % (os.path.basename(args.file),
                                                                    len(data)),
             "",
             "statesmix %s, %d thread(s), %s, %s. Each row switches one feature group off "
             "(component bits in the stream header); `+bytes` is the cost of doing without it."
             % (statesmix.__version__, args.threads, platform.processor() or platform.machine(),
                time.strftime("%Y-%m-%d")),
             "",
             "| variant | bytes | bpb | +bytes | compress s | what |",
             "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        delta = "" if full is None or r["variant"] == "plus" else "%+d" % (r["bytes"] - full)
        lines.append("| %s | %s | %.4f | %s | %.1f | %s |" % (
            r["variant"], format(r["bytes"], ","), r["bpb"], delta, r["seconds"], r["what"]))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump({"file": args.file, "size": len(data), "threads": args.threads, "rows": rows},
                  f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
