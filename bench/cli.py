"""python -m bench: arguments, and one run from the input to the results."""
import argparse
import hashlib
import json
import os
import platform
import re
import signal
import socket
import sys
import time
from pathlib import Path

from .corpora import CORPORA, corpus_path
from .enwik8 import ENWIK8_URL, choose_sizes, default_cache_dir, fetch_enwik8
from .machine import cpu_model, git_commit, info, statesmix_info, usable_cores
from .plan import COMPRESSORS, build_specs
from .plots import make_plots
from .report import (README_END, README_START, latest_result, render_markdown,
                     render_readme, update_readme)
from .runner import Progress, child_env, finish_record, run_entry
from .util import BenchError, fmt_time, stderr, write_json
from .worker import worker

def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark statesmix against standard compressors on the first N "
                    "bytes of enwik8. Each entry is compressed, decompressed and compared "
                    "byte for byte in its own process.")
    src = p.add_argument_group("input")
    src.add_argument("--enwik8", metavar="PATH",
                     help="enwik8 or any prefix of it (e.g. ../shared/data/enwik6)")
    src.add_argument("--download", action="store_true",
                     help="fetch %s into the cache directory and verify it" % ENWIK8_URL)
    src.add_argument("--corpus", choices=CORPORA,
                     help="instead of enwik8: the GCIDE dictionary or a tar of Python's "
                          "standard library, made once in the cache directory")
    src.add_argument("--cache-dir", metavar="DIR",
                     help="where --download keeps enwik8 (default: %s)" % default_cache_dir())
    p.add_argument("--sizes", metavar="LIST",
                   help="slice sizes in bytes, e.g. 1e6,3e6,1e7,1e8 or 100k,1M (default: "
                        "1e6,3e6, clipped to the input)")
    p.add_argument("--presets", metavar="LIST",
                   help="statesmix presets (names from statesmix.presets.BY_NAME, or "
                        "'default' for the default level; default: default)")
    p.add_argument("--ablation", action="store_true",
                   help="also run every preset of statesmix.presets.ABLATION (all presets "
                        "if it does not exist)")
    p.add_argument("--only", metavar="LIST",
                   help="run only these compressors (%s) or entry keys" % ",".join(COMPRESSORS))
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="statesmix threads (default: the usable cores, %d here)"
                        % usable_cores())
    p.add_argument("--block-size", type=int, default=None, metavar="BYTES",
                   help="statesmix block size; also the step of the bits-per-token "
                        "progression (default: the library default)")
    p.add_argument("--timeout", type=float, default=0, metavar="SEC",
                   help="kill an entry that runs longer than this (default: no limit)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="results directory (default: bench/results)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="continue an interrupted run with the same configuration from "
                        "its partial results (default: on)")
    p.add_argument("--max-entries", type=int, default=0, metavar="N",
                   help="stop after running N entries, keeping the partial results "
                        "(resume later)")
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots")
    p.add_argument("--readme", action="store_true",
                   help="print the README table of the latest results and exit")
    p.add_argument("--update-readme", nargs="?", const="", metavar="PATH",
                   help="rewrite the table between %s and %s in README.md (or PATH) and "
                        "exit" % (README_START, README_END))
    return p


def default_out():
    return Path(__file__).resolve().parent / "results"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--_worker"]:
        return worker(argv[1], argv[2])
    if argv[:1] == ["--info"]:
        return info()
    args = build_parser().parse_args(argv)

    def _terminate(signum, frame):
        raise KeyboardInterrupt
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _terminate)  # stop the running child too
    try:
        return _main(args)
    except BenchError as e:
        stderr("bench: error: %s" % e)
        return 2
    except KeyboardInterrupt:
        stderr("\nbench: interrupted; rerun the same command to resume")
        return 130


def _main(args):
    out_dir = Path(args.out) if args.out else default_out()
    if args.readme or args.update_readme is not None:
        table = render_readme(latest_result(out_dir))
        if args.update_readme is not None:
            path = Path(args.update_readme or
                        Path(__file__).resolve().parent.parent / "README.md")
            changed = update_readme(path, table)
            stderr("bench: %s %s" % ("updated" if changed else "unchanged:", path))
        else:
            print(table)
        return 0

    if bool(args.enwik8) + bool(args.download) + bool(args.corpus) != 1:
        raise BenchError("give exactly one of --enwik8 PATH, --download and --corpus NAME")
    if args.threads is not None and args.threads < 1:
        raise BenchError("--threads must be at least 1")
    if args.threads is None:
        args.threads = usable_cores()
    cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    if args.download:
        src = fetch_enwik8(cache, os.environ.get("STATESMIX_ENWIK8_URL", ENWIK8_URL))
    elif args.corpus:
        src = corpus_path(args.corpus, cache)
    else:
        src = Path(args.enwik8)
        if not src.is_file():
            raise BenchError("no such file: %s" % src)
    src = src.resolve()
    st = src.stat()
    sizes, notes = choose_sizes(args, st.st_size)
    for n in notes:
        stderr("bench: " + n)

    env = child_env()
    version, ss_root, by_name, ablation, default_desc = statesmix_info(env)
    entries, skipped = build_specs(args, by_name, ablation, default_desc)
    for s in skipped:
        stderr("bench: %s %s skipped: %s" % (s["compressor"], s["settings"], s["reason"]))
    plan = []
    for size in sizes:
        for e in entries:
            spec = dict(e, size=size, input=str(src))
            spec.pop("module", None)
            plan.append(spec)
    if not plan:
        raise BenchError("nothing to run")

    config = {"input": str(src), "input_size": st.st_size, "input_mtime_ns": st.st_mtime_ns,
              "sizes": sizes, "keys": [e["key"] for e in entries], "threads": args.threads,
              "block_size": args.block_size}
    chash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError("cannot create %s: %s" % (out_dir, e.strerror or e)) from None
    partial_path = out_dir / (".partial-%s.json" % chash)

    now = time.gmtime()
    host = socket.gethostname() or "host"
    res = {
        "format": 1,
        "timestamp": time.strftime("%Y%m%dT%H%M%SZ", now),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", now),
        "machine": {"host": host, "cpu": cpu_model(), "cores": os.cpu_count() or 1,
                    "usable_cores": usable_cores(), "platform": platform.platform()},
        "threads": args.threads,
        "block_size": args.block_size,
        "statesmix_version": version,
        "git_commit": git_commit(ss_root),
        "python": platform.python_version(),
        "omp_env": {k: v for k, v in env.items() if k.startswith("OMP_")},
        "input": {"path": str(src), "size": st.st_size},
        "sizes": sizes,
        "config_hash": chash,
        "notes": notes,
        "skipped": skipped,
        "entries": [],
    }
    done = {}
    if args.resume and partial_path.is_file():
        try:
            with open(partial_path) as f:
                part = json.load(f)
            if part.get("config_hash") == chash:
                for e in part.get("entries", []):
                    e["resumed"] = True
                    done[(e["key"], e["size"])] = e
                res["started"] = part.get("started", res["started"])
        except (OSError, ValueError):
            stderr("bench: ignoring unreadable %s" % partial_path)
        if done:
            stderr("bench: resuming: %d of %d entries already done (%s)"
                    % (len(done), len(plan), partial_path))

    prog = Progress(len(plan))
    failed = 0
    ran = 0
    for k, spec in enumerate(plan, 1):
        key = (spec["key"], spec["size"])
        if key in done:
            rec = done[key]
            res["entries"].append(rec)
            prog.learn(spec["key"], spec["size"], rec)
            if rec.get("status") != "ok":
                failed += 1
            continue
        if args.max_entries and ran >= args.max_entries:
            write_json(partial_path, dict(res, partial=True))
            stderr("bench: stopped after %d entries (--max-entries); %d left; rerun to "
                    "resume" % (ran, len(plan) - k + 1))
            return 3
        pending = [(s["key"], s["size"]) for s in plan[k - 1:]
                   if (s["key"], s["size"]) not in done]
        prog.show(prog.line(k, spec, pending, state="running "), final=not prog.tty)

        def tick(elapsed, k=k, spec=spec, pending=pending):
            now = time.monotonic()
            if prog.tty and now - prog.last_tick >= 1.0:
                prog.last_tick = now
                prog.show(prog.line(k, spec, pending, elapsed,
                                    state="running %s " % fmt_time(elapsed)))

        r = run_entry(spec, env, args.timeout, tick)
        ran += 1
        rec = finish_record(spec, r)
        prog.learn(spec["key"], spec["size"], rec)
        res["entries"].append(rec)
        done[key] = rec
        if rec.get("status") != "ok":
            failed += 1
        state = ("%s B, %.3f bpb, %s " % ("{:,}".format(rec["compressed_bytes"]), rec["bpb"],
                                          fmt_time(r["wall_s"]))
                 if rec.get("status") == "ok" else
                 "FAILED (%s) " % rec.get("error", rec.get("status")))
        prog.show(prog.line(k, spec, pending[1:], state=state), final=True)
        write_json(partial_path, dict(res, partial=True))

    res["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    res["failed"] = failed
    res_path = out_dir / ("%s-%s.json" % (res["timestamp"], re.sub(r"[^A-Za-z0-9_.-]", "_",
                                                                      host)))
    plot_notes = [] if args.no_plots else make_plots(res, out_dir)
    res["notes"] = res["notes"] + plot_notes
    for n in plot_notes:
        stderr("bench: " + n)
    write_json(res_path, res)
    md = render_markdown(res)
    (out_dir / "latest.md").write_text(md + "\n")
    partial_path.unlink(missing_ok=True)
    print(md)
    stderr("bench: results in %s and %s" % (res_path, out_dir / "latest.md"))
    if failed:
        stderr("bench: %d entr%s FAILED" % (failed, "y" if failed == 1 else "ies"))
        return 1
    return 0
