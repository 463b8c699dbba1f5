"""Benchmark harness: statesmix against standard compressors on enwik8 prefixes.

Run ``python -m bench --help`` from the repository root; bench/README.md
explains what is measured and how to read the results.

Every entry (one compressor setting on one slice) runs in its own child
process (``python -m bench --_worker SPEC RESULT``) so that its peak RSS can
be read from ``os.wait4``; the child compresses, decompresses and compares
the round trip byte for byte.
"""
import argparse
import hashlib
import importlib.util
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

__all__ = ["main"]

ENWIK8_URL = "http://mattmahoney.net/dc/enwik8.zip"
ENWIK8_SIZE = 100_000_000
ENWIK8_MD5 = "a1fa5ffddb56f4953e226637dabbb36a"
ENWIK8_SHA256 = "2b49720ec4d78c3c9fabaee6e4179a5e997302b3a70029f30f2d582218c024a8"

DEFAULT_SIZES = (1_000_000, 3_000_000)
README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"
RESULT_NAME = re.compile(r"^\d{8}T\d{6}Z-.*\.json$")

# Published reference numbers: slice size -> [(label, compressed bytes)].
PUBLISHED = {
    1_000_000: [("StateSMix (paper)", 265_370), ("xz -9e (paper)", 290_740)],
    3_000_000: [("StateSMix (paper)", 805_926)],
    10_000_000: [("StateSMix (paper)", 2_702_498)],
    100_000_000: [("StateSMix (paper)", 26_622_640)],
}

PPMD_MEM = 2 << 30  # 2 GiB: well inside the PPMd limit of 2^32 - 36 bytes

# The baseline entries: (compressor, settings, kind, module, params).
BASELINES = [
    ("xz", "-9e", "xz", "lzma", {}),
    ("bzip2", "-9", "bzip2", "bz2", {}),
    ("zstd", "-19 --long", "zstd", "zstandard", {"level": 19, "long": True}),
    ("zstd", "--ultra -22", "zstd", "zstandard", {"level": 22}),
    ("brotli", "-q 11 -w 24", "brotli", "brotli", {"quality": 11, "lgwin": 24}),
    # PPMd variant I (Ppmd8) caps the model order at 16 (higher orders are
    # silently clamped), so order 32 uses variant H (Ppmd7, up to order 64).
    ("ppmd", "var. I, order 8, 2 GiB", "ppmd", "pyppmd",
     {"variant": "I", "order": 8, "mem": PPMD_MEM}),
    ("ppmd", "var. I, order 16, 2 GiB", "ppmd", "pyppmd",
     {"variant": "I", "order": 16, "mem": PPMD_MEM}),
    ("ppmd", "var. H, order 32, 2 GiB", "ppmd", "pyppmd",
     {"variant": "H", "order": 32, "mem": PPMD_MEM}),
]
COMPRESSORS = ("statesmix", "xz", "bzip2", "zstd", "brotli", "ppmd")

PROGRESSION_FIELDS = ["input_bytes", "tokens", "ideal_bits", "payload_bytes", "live"]


class BenchError(Exception):
    """A failure reported as one line, exit status 2."""


# ---------------------------------------------------------------------------
# small helpers

def _stderr(line, end="\n"):
    sys.stderr.write(line + end)
    sys.stderr.flush()


def fmt_size(n):
    for unit, div in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= div and n % div == 0:
            return "%d %s" % (n // div, unit)
    if n >= 10**6 and n % 10**5 == 0:
        return "%g MB" % (n / 1e6)
    return "{:,} B".format(n)


def fmt_time(sec):
    if sec is None:
        return "?"
    sec = int(round(sec))
    if sec < 60:
        return "%ds" % sec
    if sec < 3600:
        return "%dm%02ds" % divmod(sec, 60)
    h, rest = divmod(sec, 3600)
    return "%dh%02dm" % (h, rest // 60)


def parse_sizes(text):
    """'1e6,3e6' or '100k,1M' -> sorted list of byte counts (decimal units)."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        mult = 1
        suffix = item[-1].lower()
        if suffix in "kmg" and not item[:-1].lower().endswith("e"):
            mult = {"k": 10**3, "m": 10**6, "g": 10**9}[suffix]
            item = item[:-1]
        try:
            val = float(item) * mult
        except ValueError:
            raise BenchError("bad size %r in --sizes" % item) from None
        if not (val >= 1 and val == int(val)):
            raise BenchError("bad size %r in --sizes (want a positive whole number "
                             "of bytes)" % item)
        out.append(int(val))
    if not out:
        raise BenchError("--sizes is empty")
    return sorted(set(out))


def _split_list(text):
    return [x.strip() for x in text.split(",") if x.strip()]


def _write_json(path, obj):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def _rss_mb(ru_maxrss):
    # Linux reports kilobytes, macOS bytes.
    div = 1 << 20 if sys.platform == "darwin" else 1 << 10
    return ru_maxrss / div


def _have(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# ---------------------------------------------------------------------------
# enwik8 download

def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "statesmix"


def _hashes(path):
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            buf = f.read(1 << 22)
            if not buf:
                break
            md5.update(buf)
            sha.update(buf)
    return md5.hexdigest(), sha.hexdigest()


def _verify_enwik8(path):
    md5, sha = _hashes(path)
    return md5 == ENWIK8_MD5 and sha == ENWIK8_SHA256, md5, sha


def fetch_enwik8(cache_dir, url=ENWIK8_URL, quiet=False):
    """Path of a verified enwik8 in cache_dir, downloading it if needed."""
    import urllib.error
    import urllib.request
    import zipfile

    cache_dir = Path(cache_dir)
    dest = cache_dir / "enwik8"
    if dest.is_file():
        ok, _, _ = _verify_enwik8(dest)
        if ok:
            return dest
        _stderr("bench: cached %s fails its checksum; downloading it again" % dest)
        dest.unlink()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError("cannot create cache directory %s: %s" % (cache_dir, e)) from None
    zpart = cache_dir / "enwik8.zip.part"
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(zpart, "wb") as f:
            total = int(resp.headers.get("Content-Length") or 0)
            done, last = 0, 0.0
            while True:
                buf = resp.read(1 << 20)
                if not buf:
                    break
                f.write(buf)
                done += len(buf)
                now = time.monotonic()
                if not quiet and sys.stderr.isatty() and now - last > 0.5:
                    last = now
                    pct = " (%d%%)" % (100 * done // total) if total else ""
                    _stderr("\rdownloading %s: %.1f MB%s" % (url, done / 1e6, pct), end="")
        if not quiet and sys.stderr.isatty():
            _stderr("")
    except (urllib.error.URLError, OSError, ValueError) as e:
        zpart.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise BenchError("cannot download %s: %s" % (url, reason)) from None
    part = cache_dir / "enwik8.part"
    try:
        with zipfile.ZipFile(zpart) as z, z.open("enwik8") as src, open(part, "wb") as dst:
            while True:
                buf = src.read(1 << 22)
                if not buf:
                    break
                dst.write(buf)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        part.unlink(missing_ok=True)
        raise BenchError("cannot unpack enwik8 from %s (%s): %s" % (url, zpart, e)) from None
    ok, md5, sha = _verify_enwik8(part)
    if not ok:
        part.unlink(missing_ok=True)
        zpart.unlink(missing_ok=True)
        raise BenchError("downloaded enwik8 fails verification (md5 %s, sha256 %s; "
                         "expected md5 %s, sha256 %s)" % (md5, sha, ENWIK8_MD5, ENWIK8_SHA256))
    os.replace(part, dest)
    zpart.unlink(missing_ok=True)
    return dest


# ---------------------------------------------------------------------------
# machine and source information

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def git_commit(root):
    def git(*args):
        return subprocess.run(["git", "-C", str(root)] + list(args), capture_output=True,
                              text=True, timeout=30)
    try:
        r = git("rev-parse", "HEAD")
        if r.returncode != 0:
            return None
        commit = r.stdout.strip()
        s = git("status", "--porcelain", "--untracked-files=no")
        if s.returncode == 0 and s.stdout.strip():
            commit += "-dirty"
        return commit
    except (OSError, subprocess.SubprocessError):
        return None


def _info():
    """Child process (--_info): print what the parent needs to know of statesmix."""
    try:
        import statesmix
        from statesmix import presets
    except Exception as e:  # noqa: BLE001 - any import failure is reported
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
        return 1
    by_name = dict(presets.BY_NAME)
    ablation = getattr(presets, "ABLATION", None)
    if ablation is None:
        ablation = sorted(by_name, key=lambda n: by_name[n])
    ablation = [a if isinstance(a, str) else presets.preset_name(a) for a in ablation]
    default = "default"
    lvl = getattr(presets, "DEFAULT_LEVEL", None)
    levels = getattr(presets, "LEVELS", {})
    if lvl is not None and lvl in levels and hasattr(presets, "preset_name"):
        default = "default: level %d = preset %s" % (lvl, presets.preset_name(levels[lvl]))
    root = Path(statesmix.__file__).resolve().parent.parent
    print(json.dumps({"version": statesmix.__version__, "root": str(root),
                      "by_name": by_name, "ablation": ablation, "default": default}))
    return 0


def _statesmix_info(env):
    """(version, repo root, presets.BY_NAME, ablation list, default description).

    Asked of a child process: the parent stays small, because a child's
    ru_maxrss starts at the RSS its parent had when it forked."""
    r = subprocess.run([sys.executable, "-m", "bench", "--_info"], capture_output=True,
                       text=True, env=env, stdin=subprocess.DEVNULL)
    try:
        info = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        info = {"error": (r.stderr.strip().splitlines() or ["exit status %d"
                                                            % r.returncode])[-1]}
    if "error" in info:
        raise BenchError("cannot import statesmix (%s); run from the repository root with "
                         "PYTHONPATH=. after building the C extension" % info["error"])
    return (info["version"], Path(info["root"]), info["by_name"], info["ablation"],
            info["default"])


# ---------------------------------------------------------------------------
# the worker (child process)

def _worker_statesmix(spec, data):
    import gc

    import statesmix
    T = spec["threads"]
    bs = spec.get("block_size")
    if not bs:
        try:
            from statesmix import container
            bs = container.DEFAULT_BLOCK_SIZE
        except (ImportError, AttributeError):
            bs = 1 << 20
    preset = spec["params"].get("preset")
    n = len(data)
    mv = memoryview(data)
    prog = []

    def snap(comp):
        st = comp.stats()
        row = [st.get("input_bytes"), st.get("tokens"), st.get("ideal_bits"),
               st.get("payload_bytes"), st.get("live")]
        if not prog or prog[-1][:2] != row[:2]:
            prog.append(row)
        return st

    t0 = time.perf_counter()
    comp = statesmix.StateSMixCompressor(preset=preset, threads=T, block_size=bs,
                                         content_size=n)
    parts = []
    for off in range(0, n, bs):
        parts.append(comp.compress(mv[off:off + bs]))
        snap(comp)
    parts.append(comp.flush())
    blob = b"".join(parts)
    t_comp = time.perf_counter() - t0
    st = snap(comp)
    if st.get("progress"):  # finer than per block: the core's running code length
        final = prog[-1]
        prog[:] = [[None, t, b, None, None] for t, b in st["progress"] if t < final[1]]
        prog.append(final)
    del parts, comp
    gc.collect()
    extra = {
        "block_size": bs,
        "stats": {k: v for k, v in st.items() if isinstance(v, (int, float))},
        "progression_fields": PROGRESSION_FIELDS,
        "progression": prog,
    }
    return blob, t_comp, (lambda b: statesmix.decompress(b, threads=T)), extra


def _worker_baseline(spec, data):
    kind, p = spec["kind"], spec["params"]
    if kind == "xz":
        import lzma
        comp = lambda d: lzma.compress(d, preset=9 | lzma.PRESET_EXTREME)  # noqa: E731
        decomp = lzma.decompress
    elif kind == "bzip2":
        import bz2
        comp = lambda d: bz2.compress(d, 9)  # noqa: E731
        decomp = bz2.decompress
    elif kind == "zstd":
        import zstandard
        if p.get("long"):
            params = zstandard.ZstdCompressionParameters.from_level(
                p["level"], source_size=len(data), enable_ldm=True, window_log=27)
            cctx = zstandard.ZstdCompressor(compression_params=params)
        else:
            cctx = zstandard.ZstdCompressor(level=p["level"])
        comp = cctx.compress
        decomp = zstandard.ZstdDecompressor(max_window_size=1 << 27).decompress
    elif kind == "brotli":
        import brotli
        comp = lambda d: brotli.compress(d, quality=p["quality"], lgwin=p["lgwin"])  # noqa: E731
        decomp = brotli.decompress
    elif kind == "ppmd":
        import pyppmd
        order, mem = p["order"], p["mem"]
        if p["variant"] == "I":
            def comp(d):
                e = pyppmd.Ppmd8Encoder(order, mem, pyppmd.PPMD8_RESTORE_METHOD_RESTART)
                return e.encode(d) + e.flush()

            def decomp(b):
                dd = pyppmd.Ppmd8Decoder(order, mem, pyppmd.PPMD8_RESTORE_METHOD_RESTART)
                return dd.decode(b)
        else:
            def comp(d):
                e = pyppmd.Ppmd7Encoder(order, mem)
                return e.encode(d) + e.flush(endmark=True)

            def decomp(b):
                return pyppmd.Ppmd7Decoder(order, mem).decode(b, -1)
    else:
        raise ValueError("unknown kind %r" % kind)
    t0 = time.perf_counter()
    blob = comp(data)
    t_comp = time.perf_counter() - t0
    return blob, t_comp, decomp, {}


def _maxrss_mb():
    import resource
    return round(_rss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss), 1)


def _vmhwm_mb():
    """This process's own peak RSS (Linux VmHWM, which, unlike ru_maxrss, does
    not carry over the parent's RSS at fork); None where unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def worker(spec_path, result_path):
    """Child process: run one entry, write its result as JSON."""
    with open(spec_path) as f:
        spec = json.load(f)
    res = {"status": "error", "verified": False}
    try:
        with open(spec["input"], "rb") as f:
            data = f.read(spec["size"])
        if len(data) != spec["size"]:
            raise BenchError("input has only %d bytes" % len(data))
        if spec["kind"] == "statesmix":
            import statesmix  # noqa: F401 - load before the baseline RSS reading
        res["rss_base_mb"] = _maxrss_mb()
        run = _worker_statesmix if spec["kind"] == "statesmix" else _worker_baseline
        blob, t_comp, decomp, extra = run(spec, data)
        res["rss_after_compress_mb"] = _maxrss_mb()
        res.update(extra)
        res["compressed_bytes"] = len(blob)
        res["compress_s"] = t_comp
        t0 = time.perf_counter()
        out = decomp(blob)
        res["decompress_s"] = time.perf_counter() - t0
        del blob
        if out == data:
            res["status"], res["verified"] = "ok", True
        else:
            res["status"] = "mismatch"
            m, step, lo = min(len(out), len(data)), 1 << 16, 0
            while lo < m and out[lo:lo + step] == data[lo:lo + step]:
                lo += step
            first = next((i for i in range(lo, min(m, lo + step)) if out[i] != data[i]), m)
            res["error"] = ("round trip mismatch: %d bytes out, %d in, first difference "
                            "at offset %d" % (len(out), len(data), first))
    except BaseException as e:  # noqa: BLE001 - everything is reported
        res["status"] = "error"
        res["error"] = "%s: %s" % (type(e).__name__, e)
        res["traceback"] = traceback.format_exc()[-4000:]
    res["vmhwm_mb"] = _vmhwm_mb()
    _write_json(result_path, res)
    return 0 if res["status"] == "ok" else 1


# ---------------------------------------------------------------------------
# planning

def build_specs(args, by_name, ablation, default_desc):
    """(entries, skipped) for one slice size; entries are partial specs."""
    presets = []
    if args.presets:
        presets += _split_list(args.presets)
    if args.ablation:
        presets += [p for p in ablation if p not in presets]
    if not presets:
        presets = ["default"]
    for p in presets:
        if p != "default" and p not in by_name:
            raise BenchError("unknown preset %r (known: default, %s)"
                             % (p, ", ".join(sorted(by_name))))
    entries, skipped = [], []
    for p in presets:
        entries.append({
            "key": "statesmix:" + p, "compressor": "statesmix", "kind": "statesmix",
            "settings": default_desc if p == "default" else "preset " + p,
            "params": {"preset": None if p == "default" else p},
            "threads": args.threads, "block_size": args.block_size, "module": "statesmix",
        })
    for comp, settings, kind, module, params in BASELINES:
        entries.append({"key": "%s:%s" % (comp, settings), "compressor": comp, "kind": kind,
                        "settings": settings, "params": params, "threads": 1,
                        "module": module})
    if args.only:
        only = _split_list(args.only)
        keys = {e["key"] for e in entries}
        for o in only:
            if o not in COMPRESSORS and o not in keys:
                raise BenchError("unknown compressor %r in --only (known: %s)"
                                 % (o, ", ".join(COMPRESSORS)))
        entries = [e for e in entries if e["compressor"] in only or e["key"] in only]
    kept = []
    for e in entries:
        if e["module"] != "statesmix" and not _have(e["module"]):
            skipped.append({"key": e["key"], "compressor": e["compressor"],
                            "settings": e["settings"],
                            "reason": "Python module %r is not installed (pip install "
                                      "'statesmix[bench]')" % e["module"]})
        else:
            kept.append(e)
    return kept, skipped


def choose_sizes(args, file_size):
    notes = []
    if args.sizes:
        sizes = parse_sizes(args.sizes)
        keep = [s for s in sizes if s <= file_size]
        for s in sizes:
            if s > file_size:
                notes.append("slice %s skipped: the input has only %s bytes"
                             % (fmt_size(s), "{:,}".format(file_size)))
        if not keep:
            raise BenchError("no slice fits the input (%s bytes)" % "{:,}".format(file_size))
        return keep, notes
    keep = [s for s in DEFAULT_SIZES if s <= file_size]
    if not keep:
        notes.append("the input (%s bytes) is smaller than every default slice; using "
                     "all of it" % "{:,}".format(file_size))
        return [file_size], notes
    for s in DEFAULT_SIZES:
        if s > file_size:
            notes.append("slice %s skipped: the input has only %s bytes"
                         % (fmt_size(s), "{:,}".format(file_size)))
    return keep, notes


# ---------------------------------------------------------------------------
# running one entry

def _child_env():
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
        _write_json(spec_path, spec)
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
    res["peak_rss_mb"] = round(_rss_mb(rusage.ru_maxrss), 1)
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


# ---------------------------------------------------------------------------
# progress

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
            _stderr("\r\x1b[K" + text[:cols], end="\n" if final else "")
        elif final:
            _stderr(text)


# ---------------------------------------------------------------------------
# markdown

def _fmt_num(v, fmt):
    return "—" if v is None else fmt.format(v)


def _verified_cell(e):
    if e.get("status") == "ok":
        return "yes"
    if e.get("status") == "mismatch":
        return "**NO (mismatch)**"
    return "**%s**" % (e.get("status") or "error").upper()


def slice_table(entries, size):
    rows = sorted(entries, key=lambda e: (e.get("status") != "ok",
                                          e.get("compressed_bytes") or float("inf")))
    lines = ["| compressor | settings | slice | compressed bytes | bpb | compress s | "
             "decompress s | KB/s | tokens/s | peak RSS MB | threads | verified |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for e in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            e["compressor"], e["settings"], fmt_size(size),
            _fmt_num(e.get("compressed_bytes"), "{:,}"), _fmt_num(e.get("bpb"), "{:.3f}"),
            _fmt_num(e.get("compress_s"), "{:.2f}"), _fmt_num(e.get("decompress_s"), "{:.2f}"),
            _fmt_num(e.get("compress_kbps"), "{:,.1f}"),
            _fmt_num(e.get("tokens_per_s"), "{:,.0f}"),
            _fmt_num(e.get("peak_rss_mb"), "{:,.1f}"), e.get("threads", "—"),
            _verified_cell(e)))
    for label, cb in PUBLISHED.get(size, []):
        lines.append("| *%s* | *published* | %s | *%s* | *%.3f* | | | | | | | |"
                     % (label, fmt_size(size), "{:,}".format(cb), 8.0 * cb / size))
    return lines


def machine_lines(res):
    m = res["machine"]
    return ["- host: %s; CPU: %s; %d cores (%d usable)" % (m["host"], m["cpu"], m["cores"],
                                                          m["usable_cores"]),
            "- statesmix %s, commit %s; Python %s; threads %s; block size %s; %s" % (
                res["statesmix_version"], res.get("git_commit") or "unknown",
                res["python"], res["threads"], res.get("block_size") or "default",
                " ".join("%s=%s" % kv for kv in sorted(res.get("omp_env", {}).items()))
                or "no OMP_* settings"),
            "- input: %s (%s bytes)" % (res["input"]["path"],
                                        "{:,}".format(res["input"]["size"]))]


def render_markdown(res):
    out = ["# statesmix benchmark", "",
           "Run started %s, finished %s (UTC). Slices are prefixes of enwik8; bpb = 8 × "
           "compressed / original; KB/s is compression speed in 1000 bytes per second; "
           "peak RSS covers compression and decompression of the entry in its own process; "
           "published reference numbers are in italics."
           % (res["started"].replace("T", " ").rstrip("Z"),
              res["finished"].replace("T", " ").rstrip("Z")), ""]
    out += machine_lines(res) + [""]
    for size in res["sizes"]:
        ents = [e for e in res["entries"] if e["size"] == size]
        if not ents:
            continue
        out += ["## %s (%s bytes)" % (fmt_size(size), "{:,}".format(size)), ""]
        out += slice_table(ents, size) + [""]
    notes = list(res.get("notes", []))
    notes += ["%s %s skipped: %s" % (s["compressor"], s["settings"], s["reason"])
              for s in res.get("skipped", [])]
    notes += ["%s %s on %s failed: %s" % (e["compressor"], e["settings"], fmt_size(e["size"]),
                                          e.get("error", e.get("status")))
              for e in res["entries"] if e.get("status") != "ok"]
    if notes:
        out += ["Notes:", ""] + ["- " + n for n in notes] + [""]
    return "\n".join(out)


def render_readme(res):
    sizes = [s for s in res["sizes"] if any(e["size"] == s for e in res["entries"])]
    rows, order = {}, []
    for e in res["entries"]:
        k = (e["compressor"], e["settings"])
        if k not in rows:
            rows[k] = {}
            order.append(k)
        rows[k][e["size"]] = e
    best = {}
    for k in order:
        best[k] = min((rows[k][s].get("bpb") or float("inf")) for s in rows[k])
    order.sort(key=lambda k: (k[0] != "statesmix", best[k]))
    head = "| compressor | settings | " + " | ".join(fmt_size(s) for s in sizes) + " |"
    lines = [head, "|---|---|" + "---:|" * len(sizes)]
    for k in order:
        cells = []
        for s in sizes:
            e = rows[k].get(s)
            if e is None:
                cells.append("")
            elif e.get("status") != "ok":
                cells.append("**%s**" % (e.get("status") or "error").upper())
            else:
                cells.append("{:,} ({:.3f})".format(e["compressed_bytes"], e["bpb"]))
        lines.append("| %s | %s | %s |" % (k[0], k[1], " | ".join(cells)))
    labels = []
    for s in sizes:
        for label, _ in PUBLISHED.get(s, []):
            if label not in labels:
                labels.append(label)
    for label in labels:
        cells = []
        for s in sizes:
            cb = dict(PUBLISHED.get(s, [])).get(label)
            cells.append("" if cb is None else "*{:,} ({:.3f})*".format(cb, 8.0 * cb / s))
        lines.append("| *%s* | *published* | %s |" % (label, " | ".join(cells)))
    m = res["machine"]
    lines += ["", "Compressed bytes (bits per byte) on prefixes of enwik8; %s, %d thread(s), "
              "statesmix %s (%s), %s. Full tables: `bench/results/latest.md`."
              % (m["cpu"], res["threads"], res["statesmix_version"],
                 (res.get("git_commit") or "unknown")[:12], res["finished"][:10])]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# plots

def make_plots(res, out_dir):
    """Write the PNGs; a list of notes (empty when all went well)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["plots skipped: matplotlib is not installed (pip install matplotlib)"]
    out_dir = Path(out_dir)
    ok = [e for e in res["entries"] if e.get("status") == "ok"]

    fig, ax = plt.subplots(figsize=(8, 5))
    series = {}
    for e in ok:
        series.setdefault("%s %s" % (e["compressor"], e["settings"]), []).append(
            (e["size"], e["bpb"]))
    if len(series) > 10:
        ax.set_prop_cycle(color=plt.cm.tab20.colors)
    for label, pts in sorted(series.items(), key=lambda kv: (not kv[0].startswith("statesmix"),
                                                             kv[0])):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                lw=2.2 if label.startswith("statesmix") else 1.2, label=label)
    pub = {}
    for s, refs in PUBLISHED.items():
        for label, cb in refs:
            pub.setdefault(label, []).append((s, 8.0 * cb / s))
    for label, pts in pub.items():
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], ls="--", marker="x", color="gray"
                if "StateSMix" in label else "silver", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("slice of enwik8 (bytes)")
    ax.set_ylabel("bits per byte")
    ax.set_title("Compression of enwik8 prefixes")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(out_dir / "bpb_vs_size.png", dpi=120)
    plt.close(fig)

    # statesmix: the running bits per token, one line per setting (its largest slice:
    # a smaller slice's run is a prefix of it).
    largest = {}
    for e in ok:
        if e["compressor"] == "statesmix" and e.get("progression"):
            if e["settings"] not in largest or e["size"] > largest[e["settings"]]["size"]:
                largest[e["settings"]] = e
    if not largest:
        return []
    fig, ax = plt.subplots(figsize=(8, 5))
    for settings, e in sorted(largest.items()):
        f = e.get("progression_fields", PROGRESSION_FIELDS)
        it, ib = f.index("tokens"), f.index("ideal_bits")
        pts = [(r[it], r[ib]) for r in e["progression"] if r[it]]
        if not pts:
            continue
        line, = ax.plot([p[0] for p in pts], [p[1] / p[0] for p in pts], marker=".",
                        label="%s (%s), cumulative" % (settings, fmt_size(e["size"])))
        loc = [(b[0], (b[1] - a[1]) / (b[0] - a[0])) for a, b in zip([(0, 0.0)] + pts, pts)
               if b[0] > a[0]]
        ax.plot([p[0] for p in loc], [p[1] for p in loc], ls=":", color=line.get_color(),
                alpha=0.7, label="%s, per block" % settings)
    ax.set_xlabel("tokens coded")
    ax.set_ylabel("bits per token (model's ideal code length)")
    ax.set_title("statesmix: running bits per token")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "bpt_progression.png", dpi=120)
    plt.close(fig)
    return []


# ---------------------------------------------------------------------------
# README

def latest_result(out_dir):
    out_dir = Path(out_dir)
    files = sorted(p for p in out_dir.glob("*.json") if RESULT_NAME.match(p.name)) \
        if out_dir.is_dir() else []
    if not files:
        raise BenchError("no results in %s; run python -m bench first" % out_dir)
    best = None
    for p in files:
        try:
            with open(p) as f:
                res = json.load(f)
        except (OSError, ValueError):
            continue
        if best is None or res.get("finished", "") >= best.get("finished", ""):
            best = res
    if best is None:
        raise BenchError("no readable results in %s" % out_dir)
    return best


def update_readme(path, table):
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise BenchError("cannot read %s: %s" % (path, e.strerror or e)) from None
    a, b = text.find(README_START), text.find(README_END)
    if a < 0 or b < 0 or b < a:
        raise BenchError("%s has no %s ... %s markers" % (path, README_START, README_END))
    new = text[:a + len(README_START)] + "\n" + table + "\n" + text[b:]
    if new != text:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(new)
        os.replace(tmp, path)
    return new != text


# ---------------------------------------------------------------------------
# main

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


def _default_out():
    return Path(__file__).resolve().parent / "results"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--_worker"]:
        return worker(argv[1], argv[2])
    if argv[:1] == ["--_info"]:
        return _info()
    args = build_parser().parse_args(argv)

    def _terminate(signum, frame):
        raise KeyboardInterrupt
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _terminate)  # stop the running child too
    try:
        return _main(args)
    except BenchError as e:
        _stderr("bench: error: %s" % e)
        return 2
    except KeyboardInterrupt:
        _stderr("\nbench: interrupted; rerun the same command to resume")
        return 130


def _main(args):
    out_dir = Path(args.out) if args.out else _default_out()
    if args.readme or args.update_readme is not None:
        table = render_readme(latest_result(out_dir))
        if args.update_readme is not None:
            path = Path(args.update_readme or
                        Path(__file__).resolve().parent.parent / "README.md")
            changed = update_readme(path, table)
            _stderr("bench: %s %s" % ("updated" if changed else "unchanged:", path))
        else:
            print(table)
        return 0

    if bool(args.enwik8) == bool(args.download):
        raise BenchError("give exactly one of --enwik8 PATH and --download")
    if args.threads is not None and args.threads < 1:
        raise BenchError("--threads must be at least 1")
    if args.threads is None:
        args.threads = usable_cores()
    if args.download:
        src = fetch_enwik8(Path(args.cache_dir) if args.cache_dir else default_cache_dir(),
                           os.environ.get("STATESMIX_ENWIK8_URL", ENWIK8_URL))
    else:
        src = Path(args.enwik8)
        if not src.is_file():
            raise BenchError("no such file: %s" % src)
    src = src.resolve()
    st = src.stat()
    sizes, notes = choose_sizes(args, st.st_size)
    for n in notes:
        _stderr("bench: " + n)

    env = _child_env()
    version, ss_root, by_name, ablation, default_desc = _statesmix_info(env)
    entries, skipped = build_specs(args, by_name, ablation, default_desc)
    for s in skipped:
        _stderr("bench: %s %s skipped: %s" % (s["compressor"], s["settings"], s["reason"]))
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
            _stderr("bench: ignoring unreadable %s" % partial_path)
        if done:
            _stderr("bench: resuming: %d of %d entries already done (%s)"
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
            _write_json(partial_path, dict(res, partial=True))
            _stderr("bench: stopped after %d entries (--max-entries); %d left; rerun to "
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
        _write_json(partial_path, dict(res, partial=True))

    res["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    res["failed"] = failed
    res_path = out_dir / ("%s-%s.json" % (res["timestamp"], re.sub(r"[^A-Za-z0-9_.-]", "_",
                                                                      host)))
    plot_notes = [] if args.no_plots else make_plots(res, out_dir)
    res["notes"] = res["notes"] + plot_notes
    for n in plot_notes:
        _stderr("bench: " + n)
    _write_json(res_path, res)
    md = render_markdown(res)
    (out_dir / "latest.md").write_text(md + "\n")
    partial_path.unlink(missing_ok=True)
    print(md)
    _stderr("bench: results in %s and %s" % (res_path, out_dir / "latest.md"))
    if failed:
        _stderr("bench: %d entr%s FAILED" % (failed, "y" if failed == 1 else "ies"))
        return 1
    return 0
