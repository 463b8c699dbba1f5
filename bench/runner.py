"""Running the plan: each entry in its own child process (its peak RSS
read from os.wait4), progress with an ETA, partial results saved after
every entry so an interrupted run resumes."""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .util import fmt_size, fmt_time, rss_mb, stderr, write_json

def child_env():
    """The children's environment: this `bench` importable (statesmix is found
    as in the parent: the current directory, then PYTHONPATH)."""
    env = dict(os.environ)
    paths = [str(Path(__file__).resolve().parent.parent)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    # OpenMP keeps its default wait policy (spin briefly, then sleep): on the
    # quiet machine a benchmark needs, passive waiting makes statesmix's
    # per-chunk parallel regions about 1.5x slower.  Set OMP_WAIT_POLICY to
    # override; the value is recorded with the results.
    return env


def run_entry(spec, env, timeout, tick):
    """Run one entry in a child; the result dict (parent-side fields added)."""
    with tempfile.TemporaryDirectory(prefix="statesmix-bench-") as tmp:
        spec_path = os.path.join(tmp, "spec.json")
        result_path = os.path.join(tmp, "result.json")
        log_path = os.path.join(tmp, "log.txt")
        write_json(spec_path, spec)
        t0 = time.monotonic()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "bench", "--_worker", spec_path,
                                     result_path], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=log, env=env)
        status = rusage = None
        timed_out = False
        try:
            while True:
                pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                elapsed = time.monotonic() - t0
                if timeout and elapsed > timeout and not timed_out:
                    timed_out = True
                    proc.kill()
                tick(elapsed)
                time.sleep(0.2)
        except BaseException:
            proc.kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise
        wall = time.monotonic() - t0
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        res = None
        if os.path.exists(result_path):
            with open(result_path) as f:
                res = json.load(f)
        if res is None:
            with open(log_path, "rb") as f:
                tail = f.read()[-2000:].decode("utf-8", "replace").strip()
            why = ("timed out after %s" % fmt_time(timeout) if timed_out else
                   "killed by signal %d" % -code if code < 0 else "exit status %d" % code)
            res = {"status": "timeout" if timed_out else "error", "verified": False,
                   "error": "worker %s%s" % (why, (": " + tail.splitlines()[-1]) if tail
                                              else "")}
    res["peak_rss_mb"] = round(rss_mb(rusage.ru_maxrss), 1)
    res["wall_s"] = round(wall, 3)
    return res


def finish_record(spec, res):
    size = spec["size"]
    rec = {k: spec[k] for k in ("key", "compressor", "settings", "size", "threads")}
    rec.update(res)
    cb = rec.get("compressed_bytes")
    if cb is not None:
        rec["bpb"] = 8.0 * cb / size
    if rec.get("compress_s"):
        rec["compress_kbps"] = size / 1000.0 / rec["compress_s"]
        toks = (rec.get("stats") or {}).get("tokens")
        if toks:
            rec["tokens_per_s"] = toks / rec["compress_s"]
    st = rec.get("stats") or {}
    if st.get("tokens"):
        rec["ideal_bits_per_token"] = st["ideal_bits"] / st["tokens"]
        if cb is not None:
            rec["bits_per_token"] = 8.0 * cb / st["tokens"]
    return rec


class Progress:
    BASELINE_PRIOR = 2e-6  # s per input byte (compress + decompress) before any is timed

    def __init__(self, total):
        self.total = total
        self.start = time.monotonic()
        self.rates = {}  # key -> [seconds of work, bytes]
        self.overheads = []  # per-entry seconds outside compress + decompress
        self.tty = sys.stderr.isatty()
        self.last_tick = 0.0

    def learn(self, key, size, rec):
        wall = rec.get("wall_s")
        if not wall:
            return
        work = (rec.get("compress_s") or 0.0) + (rec.get("decompress_s") or 0.0)
        if not work:
            work = wall
        self.overheads.append(max(0.0, wall - work))
        r = self.rates.setdefault(key, [0.0, 0])
        r[0] += work
        r[1] += size

    def _rate(self, key):
        """(seconds per byte, whether it is a guess) for entry `key`."""
        r = self.rates.get(key)
        if r and r[1]:
            return r[0] / r[1], False
        same = [v[0] / v[1] for k, v in self.rates.items()
                if v[1] and k.startswith("statesmix:") == key.startswith("statesmix:")]
        if key.startswith("statesmix:"):
            # presets differ a lot in speed: borrow the slowest one seen, flagged
            return (max(same), True) if same else (None, True)
        return (sum(same) / len(same) if same else self.BASELINE_PRIOR), False

    def eta(self, pending, running_elapsed=0.0):
        """Estimated seconds left for `pending` [(key, size)], the first running."""
        over = sorted(self.overheads)[len(self.overheads) // 2] if self.overheads else 0.5
        est, unknown = 0.0, False
        for i, (key, size) in enumerate(pending):
            rate, guess = self._rate(key)
            unknown = unknown or guess
            if rate is None:
                continue
            t = over + rate * size
            if i == 0:
                t = max(0.0, t - running_elapsed)
            est += t
        return fmt_time(est) + ("+?" if unknown else "")

    def line(self, k, spec, pending, running_elapsed=0.0, state=""):
        el = time.monotonic() - self.start
        return ("[%d/%d] %s %s on %s %s| elapsed %s, ETA %s"
                % (k, self.total, spec["compressor"], spec["settings"], fmt_size(spec["size"]),
                   state, fmt_time(el), self.eta(pending, running_elapsed)))

    def show(self, text, final=False):
        if self.tty:
            cols = 160
            try:
                cols = os.get_terminal_size(sys.stderr.fileno()).columns - 1
            except OSError:
                pass
            stderr("\r\x1b[K" + text[:cols], end="\n" if final else "")
        elif final:
            stderr(text)
