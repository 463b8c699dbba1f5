"""Soak: a large input in frames on every core, with the memory of every
process watched, and the round trip verified.

    PYTHONPATH=. python -m bench.soak [--size 100M] [--frame-size 16M] [--level 1]

The input is the first SIZE bytes of a tar of the Python installation's
standard library (sorted names, so the same for the same installation), or
--input FILE.  `statesmix --frame-size F -T N` compresses it and `-d -T N`
decompresses it (child processes); every 0.2 s the peak RSS (VmHWM) of the
tool and of each of its worker processes is read from /proc, and the
SHA-256 of the output is compared with the input's.  Writes
bench/results/soak.md (--out).  Times are only indicative where the
machine was not quiet (the others' CPU seconds are reported).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench.quiet import busy_seconds
from bench.util import sha256_file
from statesmix.cli import parse_size
from statesmix.units import fmt_bytes


def _tar_of_stdlib(path, size):
    lib = os.path.dirname(os.__file__)
    with open(path, "wb") as out:
        tar = subprocess.Popen(["tar", "--sort=name", "-cf", "-", "-C", lib, "."],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        left = size
        while left:
            chunk = tar.stdout.read(min(left, 1 << 20))
            if not chunk:
                break
            out.write(chunk)
            left -= len(chunk)
        tar.kill()
        tar.wait()
    return lib


def _tree(pid):
    """pid and its descendants."""
    kids = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def _hwm_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def watched(cmd, stdout_path):
    """Run cmd; (wall s, others' CPU s, {pid: (role, peak RSS MB)})."""
    peaks = {}
    b0 = busy_seconds()
    t0 = time.perf_counter()
    with open(stdout_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out)
        while proc.poll() is None:
            for p in _tree(proc.pid):
                hwm = _hwm_mb(p)
                if hwm is not None:
                    line = _cmdline(p)
                    role = ("tool" if p == proc.pid else "worker" if "spawn_main" in line
                            else "helper")
                    peaks[p] = (role, max(hwm, peaks.get(p, (role, 0))[1]))
            time.sleep(0.2)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit("bench.soak: %s failed" % " ".join(cmd))
    return wall, busy_seconds() - b0, peaks


def _row(what, wall, busy, peaks, raw):
    workers = [mb for role, mb in peaks.values() if role == "worker"]
    tool = max((mb for role, mb in peaks.values() if role == "tool"), default=0)
    return "| %s | %.0f | %.1f | %.0f | %d | %s | %.0f |" % (
        what, wall, raw / wall / 1000, busy, len(workers),
        ", ".join("%.0f" % mb for mb in sorted(workers)) or "-", tool)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", help="a file instead of the tar of the standard library")
    ap.add_argument("--size", default="100M")
    ap.add_argument("--frame-size", default="16M")
    ap.add_argument("--level", type=int, default=None)
    ap.add_argument("--preset", default=None, help="a preset by name instead of a level")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join("bench", "results", "soak.md"))
    args = ap.parse_args(argv)
    level = (["--preset", args.preset] if args.preset else
             ["-%d" % args.level] if args.level else [])
    with tempfile.TemporaryDirectory(dir=os.environ.get("SOAK_TMP")) as tmp:
        src = os.path.join(tmp, "input")
        if args.input:
            source = args.input
            with open(args.input, "rb") as f, open(src, "wb") as out:
                out.write(f.read(parse_size(args.size)))
        else:
            source = "tar of %s" % _tar_of_stdlib(src, parse_size(args.size))
        raw = os.path.getsize(src)
        want = sha256_file(src)
        tool = [sys.executable, "-m", "statesmix", "-T", str(args.threads)]
        comp = os.path.join(tmp, "input.ssx")
        c = watched(tool + level + ["--frame-size", args.frame_size, "-c", src], comp)
        size = os.path.getsize(comp)
        back = os.path.join(tmp, "back")
        d = watched(tool + ["-d", "-c", comp], back)
        ok = sha256_file(back) == want
        listing = subprocess.run(tool + ["-l", comp], capture_output=True, text=True).stdout
    frames = listing.count("\n") - 4
    lines = ["# Soak: %s in frames on %d cores" % (fmt_bytes(raw), args.threads), "",
             "%s (%d bytes), %s, frames of %s (%d frames), -T %d; %s, %s.  Round trip "
             "verified (SHA-256): %s." % (
                 source, raw, "preset %s" % args.preset if args.preset else
                 "level %d" % args.level if args.level else "the default level",
                 args.frame_size, frames, args.threads, time.strftime("%Y-%m-%d"),
                 os.uname().nodename, "yes" if ok else "NO"), "",
             "Compressed: %d bytes (%.3f bpb)." % (size, 8 * size / raw), "",
             "| run | wall s | KB/s | CPU s of the whole machine | workers | peak RSS per "
             "worker, MB | peak RSS of the tool, MB |", "|---|---:|---:|---:|---:|---|---:|",
             _row("compress", c[0], c[1], c[2], raw), _row("decompress", d[0], d[1], d[2], raw),
             "", "The machine's busy CPU seconds during a run include the other processes "
             "on it: where they exceed about %d x the wall time, the machine was shared and "
             "the times are only indicative." % args.threads, ""]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    print(json.dumps({"compress": c[2], "decompress": d[2]}, default=str))
    if not ok:
        raise SystemExit("bench.soak: the round trip differs")


if __name__ == "__main__":
    main()
