"""The child process of one entry: compress, decompress, compare, and
report times, sizes and peak memory as JSON."""
import json
import time
import traceback

from .util import PROGRESSION_FIELDS, BenchError, rss_mb, write_json

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
    elif kind == "zpaq":
        comp, decomp = _zpaq(p["method"])
    else:
        raise ValueError("unknown kind %r" % kind)
    t0 = time.perf_counter()
    blob = comp(data)
    t_comp = time.perf_counter() - t0
    return blob, t_comp, decomp, {}


def _zpaq(method):
    """zpaq archives a file: the input goes to a temporary file, and the
    archive (its size includes zpaq's own headers and the file's name) is
    the compressed form; the times include starting the program."""
    import os
    import subprocess
    import tempfile

    def run(args, cwd):
        subprocess.run(["zpaq"] + args, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def comp(d):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "in"), "wb") as f:
                f.write(d)
            run(["a", "a.zpaq", "in", "-m%d" % method], tmp)
            with open(os.path.join(tmp, "a.zpaq"), "rb") as f:
                return f.read()

    def decomp(b):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "a.zpaq"), "wb") as f:
                f.write(b)
            run(["x", "a.zpaq", "-to", "out"], tmp)
            with open(os.path.join(tmp, "out", "in"), "rb") as f:
                return f.read()
    return comp, decomp


def _maxrss_mb():
    import resource
    return round(rss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss), 1)


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
    write_json(result_path, res)
    return 0 if res["status"] == "ok" else 1
