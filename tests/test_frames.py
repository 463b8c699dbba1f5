"""Independent frames, their index and seeking through it, executors (a
process pool, a thread pool, Dask), and the frame options of the tool."""
import concurrent.futures as cf
import hashlib
import io
import os
import pickle
import subprocess
import sys
import time

import pytest

import statesmix
from statesmix import container as ct
from statesmix.cli import main as cli_main
from statesmix.decompressor import StateSMixDecompressor
from statesmix.errors import StateSMixError
from statesmix.frames import FrameCompressor, FrameReader, open_reader
from statesmix.reader import StreamReader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from textgen import make_text  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = make_text(40_000, 3)
FRAME = 8192


@pytest.fixture(scope="module")
def framed():
    return statesmix.compress(DATA, preset="count", frame_size=FRAME)


class MemoExecutor(cf.Executor):
    """Runs every call here and at once, computing each distinct call once
    (identical frames of a large file cost one compression)."""

    def __init__(self):
        self.results = {}
        self.calls = 0

    def submit(self, fn, *args, **kwargs):
        key = hashlib.sha256(pickle.dumps((fn.__name__, args, sorted(kwargs.items())))).digest()
        if key not in self.results:
            self.calls += 1
            self.results[key] = fn(*args, **kwargs)
        future = cf.Future()
        future.set_result(self.results[key])
        return future


def streams_of(blob):
    """Every stream of `blob` decoded by StateSMixDecompressor alone, as a
    reader that knows nothing of frames does, and what follows the last."""
    out, rest = [], blob
    while rest[:len(ct.MAGIC)] == ct.MAGIC:
        d = StateSMixDecompressor(threads=1)
        out.append(d.decompress(rest))
        assert d.eof
        rest = d.unused_data
    return out, rest


# ---------------------------------------------------------------- the format

def test_frames_are_streams_then_an_index(framed):
    parts, rest = streams_of(framed)
    assert b"".join(parts) == DATA
    assert len(parts) >= -(-len(DATA) // FRAME)
    assert all(len(p) <= FRAME for p in parts)
    assert all(p.endswith(b"\n") for p in parts[:-1])      # cut after a newline
    # what follows is the index, which a reader without frames ignores as
    # data that is not a stream
    assert rest[:len(ct.INDEX_MAGIC)] == ct.INDEX_MAGIC != ct.MAGIC
    entries, end = ct.parse_index(rest, 0)
    assert end == len(rest)
    assert [e.raw_len for e in entries] == [len(p) for p in parts]
    layout = ct.walk(io.BytesIO(framed))
    assert [s["compressed"] for s in layout.streams] == [e.compressed_len for e in entries]
    assert layout.indexes == [(len(framed) - len(rest), len(parts))]
    assert layout.damaged_index is None and layout.trailing is None


def test_output_does_not_depend_on_workers_or_executor(framed):
    assert statesmix.compress(DATA, preset="count", frame_size=FRAME, workers=2) == framed
    with cf.ThreadPoolExecutor(3) as ex:
        assert statesmix.compress(DATA, preset="count", frame_size=FRAME, executor=ex,
                                  in_flight=1) == framed
    assert statesmix.compress(DATA, preset="count", frame_size=FRAME, threads=2, workers=10_000,
                              in_flight=5) == framed
    bio = io.BytesIO()
    with statesmix.open(bio, "wb", preset="count", frame_size=FRAME, workers=2,
                        content_size=len(DATA)) as f:
        for i in range(0, len(DATA), 5000):
            f.write(DATA[i:i + 5000])
    assert bio.getvalue() == framed


def test_framed_round_trips(framed):
    assert statesmix.decompress(framed) == DATA
    assert statesmix.decompress(framed, workers=2) == DATA
    with cf.ThreadPoolExecutor(2) as ex:
        assert statesmix.decompress(framed, executor=ex) == DATA
    r = StreamReader(io.BytesIO(framed))
    assert r.readall() == DATA
    assert r.indexes == 1 and not r.trailing and len(r.streams) == r.streams_started > 1
    # an empty input is one empty frame
    empty = statesmix.compress(b"", preset="count", frame_size=FRAME)
    assert statesmix.decompress(empty) == b""
    assert len(streams_of(empty)[0]) == 1
    # a frame too large for the memory limit is refused before any work
    with pytest.raises(StateSMixError, match="memory limit"):
        statesmix.compress(DATA, preset="ngram", frame_size=FRAME, memory_limit=1 << 20)


def test_frame_arguments_are_checked():
    for bad, err in (({"frame_size": 10}, ValueError), ({"frame_size": 1 << 40}, ValueError),
                     ({"frame_size": "4M"}, TypeError),
                     ({"frame_size": FRAME, "workers": -1}, ValueError),
                     ({"frame_size": FRAME, "in_flight": 0}, ValueError),
                     ({"frame_size": FRAME, "executor": object()}, TypeError),
                     ({"executor": cf.ThreadPoolExecutor(1)}, TypeError)):
        with pytest.raises(err):
            statesmix.compress(DATA, preset="count", **bad)
    with pytest.raises(ValueError):
        statesmix.StateSMixFile(io.BytesIO(), "rb", frame_size=FRAME)
    with pytest.raises(ValueError):
        statesmix.StateSMixFile(io.BytesIO(), "wb", frame_size=FRAME, content_size=-1)
    for told in (5, 2):     # fewer and more bytes than announced
        c = FrameCompressor(preset="count", frame_size=FRAME, content_size=told)
        c.compress(b"abc")
        with pytest.raises(StateSMixError, match="content_size %d given but 3" % told):
            c.flush()
    c = FrameCompressor(preset="count", frame_size=FRAME)
    c.compress(b"abc")
    c.flush()
    with pytest.raises(ValueError):
        c.compress(b"more")
    with pytest.raises(TypeError):
        pickle.dumps(c)


def frame_sizes(blob):
    """The raw sizes its index gives for a framed file."""
    tail = blob[-ct.INDEX_TAIL_SIZE:]
    return [e.raw_len for e in ct.parse_index(blob, len(blob) - ct.index_size(tail))[0]]


def test_a_known_size_cuts_even_frames(framed):
    # compress() knows the size: 40,000 bytes in 8 KiB frames are five of
    # about 8,000 bytes, not four full ones and a short one
    sizes = frame_sizes(framed)
    assert len(sizes) == -(-len(DATA) // FRAME) == 5 and sum(sizes) == len(DATA)
    assert max(sizes) <= FRAME and max(sizes) - min(sizes) < 300, sizes
    # a stream of unknown size is cut at the frame size, and the last frame
    # is what is left (told the size, a file cuts as compress(): the test above)
    with FrameCompressor(preset="count", frame_size=FRAME) as c:
        blob = b"".join(c.compress(DATA[i:i + 999]) for i in range(0, len(DATA), 999))
        blob += c.flush()
    sizes = frame_sizes(blob)
    assert len(sizes) == 5 and min(sizes[:-1]) > FRAME - 4096, sizes
    assert sizes[-1] < min(sizes[:-1]) - 500, sizes
    assert statesmix.decompress(blob) == DATA


def test_concatenated_framed_files_chain_their_indexes(framed):
    both = framed + statesmix.compress(DATA[:5000], preset="count") + framed
    assert statesmix.decompress(both) == DATA + DATA[:5000] + DATA
    r = StreamReader(io.BytesIO(both))
    assert r.readall() == DATA + DATA[:5000] + DATA and r.indexes == 2 and not r.trailing
    # the last index does not account for the plain stream before its frames: a scan
    table = StreamReader(io.BytesIO(both)).frame_table()
    assert not table.from_index and table.index == "none"
    two = framed + framed
    table = StreamReader(io.BytesIO(two)).frame_table()
    assert table.from_index and table.size == 2 * len(DATA)
    layout = ct.walk(io.BytesIO(both))
    assert len(layout.indexes) == 2 and layout.damaged_index is None
    # an index that describes more streams than came before it is damaged
    one = statesmix.compress(DATA[:3000], preset="count")
    blob = one + ct.pack_index([(3000, len(one)), (3000, len(one))])
    assert ct.walk(io.BytesIO(blob)).damaged_index == len(one)
    r = StreamReader(io.BytesIO(blob))
    assert r.readall() == DATA[:3000] and r.index_damaged


# ---------------------------------------------------------------- seeking

def _read_at(blob, pos, n):
    with statesmix.open(io.BytesIO(blob)) as f:
        f.seek(pos)
        data = f.read(n)
        raw = f._buffer.raw
        return data, raw.streams_started, raw.frame_table()


def test_seek_decodes_only_the_frame_it_needs(framed):
    for pos in (0, 100, FRAME + 5, len(DATA) // 2, len(DATA) - 10):
        data, started, table = _read_at(framed, pos, 1000)
        assert data == DATA[pos:pos + 1000]
        frame = table.frames[table.find(pos)]
        assert started == (1 if min(pos + 1000, len(DATA)) <= frame.raw_start + frame.raw_len
                           else 2)
        assert table.from_index and table.index == "ok"
    with statesmix.open(io.BytesIO(framed)) as f:
        assert f.seek(0, io.SEEK_END) == len(DATA)
        assert f._buffer.raw.streams_started == 0          # the size came from the index
        f.seek(-50, io.SEEK_END)
        assert f.read() == DATA[-50:]
        f.seek(10)
        assert f.read(20) == DATA[10:30]
        f.seek(len(DATA) // 3)
        f.seek(5, io.SEEK_CUR)
        assert f.read(10) == DATA[len(DATA) // 3 + 5:][:10]


def _damaged(framed):
    """The framed stream with its index damaged in several ways."""
    idx = len(framed) - len(streams_of(framed)[1])
    flipped = bytearray(framed)
    flipped[idx + 7] ^= 0x40                 # an entry: the checksum fails
    return {"flipped": bytes(flipped), "truncated": framed[:-3],
            "half": framed[:idx + (len(framed) - idx) // 2],
            "no magic": framed[:-1] + b"X"}


def test_a_damaged_index_is_detected_and_never_gives_wrong_data(framed):
    for name, blob in _damaged(framed).items():
        # reading through: the frames decode and verify, the index is reported
        r = StreamReader(io.BytesIO(blob))
        assert r.readall() == DATA, name
        assert r.index_damaged and r.trailing, name
        assert ct.walk(io.BytesIO(blob)).damaged_index is not None, name
        # seeking: a scan finds the frames
        data, started, table = _read_at(blob, len(DATA) // 2, 500)
        assert data == DATA[len(DATA) // 2:][:500], name
        assert not table.from_index and table.index == "damaged", name
        assert started == 1, name
        assert statesmix.decompress(blob, workers=2) == DATA, name


def test_an_index_that_lies_costs_a_scan_not_wrong_data(framed):
    """An index with a valid checksum whose sizes are wrong (swapped raw
    sizes of two frames): the frame's header disagrees, the reader scans."""
    parts, rest = streams_of(framed)
    entries, _ = ct.parse_index(rest, 0)
    lie = list(entries)
    lie[0], lie[1] = (lie[1].raw_len, lie[0].compressed_len), (lie[0].raw_len,
                                                              lie[1].compressed_len)
    assert lie[0][0] != lie[1][0]
    blob = framed[:len(framed) - len(rest)] + ct.pack_index(lie)
    pos = max(entries[0].raw_len, entries[1].raw_len) + 10   # frame 2 by both
    data, _, table = _read_at(blob, pos, 100)
    assert data == DATA[pos:pos + 100]
    assert not table.from_index              # it turned to the scan
    # reading through, the index does not match the streams before it
    r = StreamReader(io.BytesIO(blob))
    assert r.readall() == DATA and r.index_damaged


def test_reading_1k_in_the_middle_of_16_mb_decodes_one_frame():
    """A 16 MiB framed file (64 identical frames of 256 KiB: a memoizing
    executor compresses one of them); 1 KiB read at its middle decodes one
    frame, and so it does when the index is truncated (a scan finds the
    frames) or corrupt."""
    chunk = make_text((1 << 18) - 1, 11) + b"\n"
    data = chunk * 64
    ex = MemoExecutor()
    blob = statesmix.compress(data, preset="count", frame_size=len(chunk), executor=ex)
    assert ex.calls == 1 and len(data) == 16 << 20
    pos = (8 << 20) + 12345
    for name, b in [("index", blob)] + list(_damaged(blob).items()):
        t0 = time.monotonic()
        got, started, table = _read_at(b, pos, 1024)
        assert got == data[pos:pos + 1024], name
        assert started == 1, name
        assert table.from_index == (name == "index"), name
        assert table.index == ("ok" if name == "index" else "damaged"), name
        assert len(table.frames) == 64, name
        assert time.monotonic() - t0 < 30, name


# ---------------------------------------------------------------- workers

def test_a_corrupt_frame_fails_in_order_and_ends_the_workers(framed):
    layout = ct.walk(io.BytesIO(framed))
    bad = bytearray(framed)
    bad[layout.streams[2]["offset"] + 30] ^= 0xFF
    with pytest.raises(StateSMixError):
        statesmix.decompress(bytes(bad), threads=1)
    reader = open_reader(io.BytesIO(bytes(bad)), workers=2)
    assert isinstance(reader, FrameReader)
    out = b""
    with pytest.raises(StateSMixError):
        while True:
            piece = reader.read(4096)
            if not piece:
                break
            out += piece
    assert DATA.startswith(out) and len(out) >= layout.streams[0]["size"]
    assert reader.closed
    # one stream, or no workers asked for: the stream reader
    assert isinstance(open_reader(io.BytesIO(statesmix.compress(DATA[:100])), workers=2),
                      StreamReader)
    assert isinstance(open_reader(io.BytesIO(framed)), StreamReader)


def test_dask_cluster_compresses_the_same_bytes(framed):
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not "
                                      "installed (pip install 'statesmix[dask]')")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        ex = client.get_executor()
        assert statesmix.compress(DATA, preset="count", frame_size=FRAME, executor=ex) == framed
        assert statesmix.decompress(framed, executor=ex) == DATA


# ---------------------------------------------------------------- threads

def test_thread_counts_are_checked_and_capped():
    from statesmix.threads import cores, for_model, for_workers, PARALLEL_MIN_SIZE
    n = cores()
    assert n == len(os.sched_getaffinity(0))
    assert for_model(10_000, None) == n and for_model(0, 10) == n and for_model(1, 1 << 30) == 1
    assert for_model(None, 100) == 1 and for_model(None, None) == 1
    assert for_model(None, PARALLEL_MIN_SIZE) == n
    # a model without shared per-token work (level 1) keeps one thread
    assert for_model(None, 1 << 30, shared_work=False) == 1
    assert for_model(2, 1 << 30, shared_work=False) == min(2, n)
    from statesmix import presets
    cfg = {name: presets.model_config(presets.BY_NAME[name], 1000) for name in ("fast", "cm")}
    assert not presets.shared_work(cfg["fast"]) and presets.shared_work(cfg["cm"])
    assert for_workers(None) == 1 and for_workers(0) == n and for_workers(10_000) == n
    for bad, err in ((-1, ValueError), (1.5, TypeError), ("2", TypeError), (True, TypeError)):
        with pytest.raises(err):
            statesmix.compress(b"x", threads=bad)
        with pytest.raises(err):
            statesmix.decompress(statesmix.compress(b"x"), workers=bad)
    assert statesmix.compress(DATA[:500], threads=10_000) == statesmix.compress(DATA[:500])


def _spin_setting(**env):
    code = ("import os, statesmix; a = os.environ.get('GOMP_SPINCOUNT'); "
            "import statesmix.core; print(a, os.environ.get('GOMP_SPINCOUNT'))")
    base = {k: v for k, v in os.environ.items()
            if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    r = subprocess.run([sys.executable, "-c", code], env=dict(base, PYTHONPATH=REPO, **env),
                       capture_output=True, text=True, check=True)
    return r.stdout.split()


def test_openmp_wait_policy_is_ours_unless_the_user_chose():
    from statesmix.threads import SPIN_COUNT
    # set before the extension loads libgomp, taken out of the environment after
    assert _spin_setting() == [str(SPIN_COUNT), "None"]
    assert _spin_setting(GOMP_SPINCOUNT="77") == ["77", "77"]
    assert _spin_setting(OMP_WAIT_POLICY="active") == ["None", "None"]


# ---------------------------------------------------------------- the tool

def _run(args, capsys):
    status = cli_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_frames(tmp_path, capsys, framed):
    src = tmp_path / "doc.txt"
    src.write_bytes(DATA)
    count = ["--preset", "count", "--frame-size", "8K"]
    status, out, err = _run(count + ["-T", "2", src], capsys)
    assert status == 0 and err == ""
    ssx = tmp_path / "doc.txt.ssx"
    assert ssx.read_bytes() == framed
    other = tmp_path / "other.ssx"
    status, out, err = _run(count + ["-T", "10000", "-o", other, src], capsys)
    assert status == 0 and other.read_bytes() == framed
    os.unlink(other)
    status, out, err = _run(["-l", ssx], capsys)
    assert status == 0 and err == ""
    lines = out.splitlines()
    n = len(streams_of(framed)[0])
    assert lines[1].split()[0] == str(n)
    assert "Frame" in lines[2] and len(lines) == 3 + n + 1
    assert lines[-1] == "  Index: 1 checked, %d frames" % n
    status, out, err = _run(["-t", "-v", ssx], capsys)
    assert status == 0 and "OK" in err and "%d streams" % n in err
    os.unlink(src)
    status, out, err = _run(["-d", "-T", "2", ssx], capsys)
    assert status == 0 and err == "" and src.read_bytes() == DATA
    # a damaged index: a warning, the data is whole
    bad = tmp_path / "bad.ssx"
    bad.write_bytes(_damaged(framed)["flipped"])
    status, out, err = _run(["-t", bad], capsys)
    assert status == 0 and "frame index damaged" in err
    status, out, err = _run(["-l", bad], capsys)
    assert status == 0 and "Index: damaged" in out
    # --rm verifies the framed output before it removes the input
    status, out, err = _run(count + ["--rm", "-f", src], capsys)
    assert status == 0 and not src.exists() and ssx.read_bytes() == framed


@pytest.mark.parametrize("args", [["-T", "-1"], ["-T", "x"], ["-T", "1.5"],
                                  ["--frame-size", "10"], ["--frame-size", "x"]])
def test_cli_rejects_bad_counts_and_sizes(tmp_path, capsys, args):
    src = tmp_path / "doc.txt"
    src.write_bytes(DATA[:100])
    status, out, err = _run(args + [src], capsys)
    assert status == 2 and "Traceback" not in err
    assert os.listdir(tmp_path) == ["doc.txt"]
