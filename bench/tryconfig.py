"""One compression with a preset's model configuration changed, to see what
a table size or a training setting is worth before it becomes a preset.

    PYTHONPATH=. python -m bench.tryconfig FILE [--preset cm]
        [--config '{"cm_bits": 25}'] [--verify] [--jsonl OUT] [--tag NAME]

Compresses FILE whole in this process, as compress() does (the content size
recorded, so the tables that grow with it are sized from it; a changed
configuration is written into the stream's header, a few dozen bytes), and
prints one JSON line: the bytes, the effective configuration's fields that
were asked for, wall seconds and this process's peak RSS.  --verify
decompresses and compares; --jsonl appends the line to OUT.
"""
import argparse
import json
import platform
import resource
import sys
import time

import statesmix
from statesmix import container as ct
from statesmix.compressor import compress_stream
from statesmix.presets import preset_name, stream_config
from statesmix.tokenizer import get_vocabulary

from bench.util import rss_mb


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--preset", default=None, help="preset name (default: the default level's)")
    ap.add_argument("--config", default="{}", help="JSON object of configuration fields")
    ap.add_argument("-T", "--threads", type=int, default=None)
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--jsonl", help="append the result line to this file")
    ap.add_argument("--tag", default="", help="a name for the run in the line")
    args = ap.parse_args(argv)
    config = json.loads(args.config)
    if not isinstance(config, dict):
        ap.error("--config must be a JSON object")
    with open(args.file, "rb") as f:
        data = f.read()
    t0 = time.monotonic()
    out = compress_stream(data, preset=args.preset, threads=args.threads,
                          config=config or None)[0]
    wall = time.monotonic() - t0
    header = ct.parse_header(out, 0)[0]
    used = stream_config(header, get_vocabulary(header.vocab_id).size)
    row = {"tag": args.tag, "file": args.file, "size": len(data),
           "preset": preset_name(header.preset),
           "config": {k: used[k] for k in config}, "bytes": len(out),
           "bpb": round(8 * len(out) / max(len(data), 1), 4), "compress_s": round(wall, 1),
           "peak_rss_mb": round(rss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)),
           "machine": platform.processor() or platform.machine()}
    if args.verify:
        t0 = time.monotonic()
        ok = statesmix.decompress(out, threads=args.threads) == data
        row.update(verified=ok, decompress_s=round(time.monotonic() - t0, 1))
        if not ok:
            print(json.dumps(row), flush=True)
            sys.exit("tryconfig: the round trip failed")
    line = json.dumps(row)
    print(line, flush=True)
    if args.jsonl:
        with open(args.jsonl, "a") as f:
            f.write(line + "\n")
    return row


if __name__ == "__main__":
    main()
