"""The statesmix command line tool, in-process through statesmix.cli.main()
and a few times as `python -m statesmix`."""
import io
import os
import pathlib
import shlex
import signal
import subprocess
import sys
import time

import pytest

import statesmix
import statesmix.presets
from statesmix import cli
from statesmix import container as ct
from statesmix.cli import driver, output, progress

REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from textgen import make_text  # noqa: E402


DATA = make_text(3000, 1)


def run(args, capsys):
    """main(args) -> (status, stdout, stderr) as text."""
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def run_bin(args, capsysbinary):
    status = cli.main([str(a) for a in args])
    out, err = capsysbinary.readouterr()
    return status, out, err.decode()


def one_error_line(err, *needles):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("statesmix: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], err
    return lines[0]


class TTYBuffer(io.BytesIO):
    def isatty(self):
        return True


class FakeStdin:
    def __init__(self, data, tty=False):
        self.buffer = TTYBuffer(data) if tty else io.BytesIO(data)

    def isatty(self):
        return self.buffer.isatty()


class FakeStdout:
    def __init__(self, tty=True):
        self.buffer = TTYBuffer() if tty else io.BytesIO()

    def isatty(self):
        return self.buffer.isatty()

    def write(self, s):
        self.buffer.write(s.encode())

    def flush(self):
        pass


@pytest.fixture
def src(tmp_path):
    p = tmp_path / "doc.txt"
    p.write_bytes(DATA)
    return p


def listing(path):
    return sorted(os.listdir(path))


# ---------------------------------------------------------------- basics

def test_round_trip_keeps_input(src, capsys):
    status, out, err = run([src], capsys)
    assert status == 0 and out == "" and err == ""
    ssx = src.with_name("doc.txt.ssx")
    assert src.read_bytes() == DATA                  # -k is the default
    comp = ssx.read_bytes()
    # the file's size is recorded, and the level is the default
    c = statesmix.StateSMixCompressor(content_size=len(DATA))
    assert comp == c.compress(DATA) + c.flush()
    assert statesmix.StateSMixDecompressor().header is None
    d = statesmix.StateSMixDecompressor()
    d.decompress(comp)
    assert d.header.level == statesmix.presets.DEFAULT_LEVEL
    src.unlink()
    status, out, err = run(["-d", ssx], capsys)
    assert status == 0 and err == ""
    assert src.read_bytes() == DATA
    assert ssx.exists()
    assert listing(src.parent) == ["doc.txt", "doc.txt.ssx"]   # no temporary files


def test_keeps_mode_and_mtime(src, capsys):
    os.chmod(src, 0o640)
    os.utime(src, ns=(1_000_000_000_000_000_000, 1_200_000_000_000_000_000))
    assert run(["-k", src], capsys)[0] == 0
    st = os.stat(src.with_name("doc.txt.ssx"))
    assert st.st_mode & 0o777 == 0o640
    assert st.st_mtime_ns == 1_200_000_000_000_000_000


def test_rm_removes_input_only_on_success(src, capsys):
    ssx = src.with_name("doc.txt.ssx")
    assert run(["--rm", src], capsys)[0] == 0
    assert not src.exists() and statesmix.decompress(ssx.read_bytes()) == DATA
    assert run(["-d", "--rm", ssx], capsys)[0] == 0
    assert src.read_bytes() == DATA and not ssx.exists()
    # failure (output exists): the input stays
    ssx.write_bytes(b"precious")
    status, _, err = run(["--rm", src], capsys)
    assert status == 1
    one_error_line(err, "doc.txt", "exists")
    assert src.read_bytes() == DATA and ssx.read_bytes() == b"precious"
    # a corrupt .ssx is not removed when decompression fails
    ssx.write_bytes(statesmix.compress(DATA)[:-5])
    src.unlink()
    status, _, err = run(["-d", "--rm", ssx], capsys)
    assert status == 1
    one_error_line(err, "doc.txt.ssx")
    assert ssx.exists() and not src.exists()
    assert listing(ssx.parent) == ["doc.txt.ssx"]


def test_rm_verification_failure_keeps_input(src, capsys, monkeypatch):
    """--rm decodes the written output and compares it before removing."""
    real = driver.StateSMixCompressor

    class Lossy(real):
        def compress(self, data):
            return super().compress(bytes(data).replace(b"the", b"THE"))

        def flush(self):
            return super().flush()

    monkeypatch.setattr(driver, "StateSMixCompressor",
                        lambda *a, **k: Lossy(*a, **dict(k, content_size=None)))
    status, _, err = run(["--rm", src], capsys)
    assert status == 1
    one_error_line(err, "verification failed")
    assert src.read_bytes() == DATA
    assert listing(src.parent) == ["doc.txt"]


def test_force_needed_to_overwrite(src, capsys):
    ssx = src.with_name("doc.txt.ssx")
    ssx.write_bytes(b"old contents")
    status, _, err = run([src], capsys)
    assert status == 1
    one_error_line(err, "doc.txt", "already exists", "-f")
    assert ssx.read_bytes() == b"old contents"
    assert run(["-f", src], capsys)[0] == 0
    assert statesmix.decompress(ssx.read_bytes()) == DATA
    # decompression too
    src.write_bytes(b"newer file")
    status, _, err = run(["-d", ssx], capsys)
    assert status == 1 and src.read_bytes() == b"newer file"
    one_error_line(err, "already exists")
    assert run(["-d", "-f", ssx], capsys)[0] == 0
    assert src.read_bytes() == DATA


def test_stdout_and_output_file(src, capsysbinary, tmp_path):
    status, out, err = run_bin(["-c", src], capsysbinary)
    assert status == 0 and err == ""
    # the size of a regular file goes into the header
    c = statesmix.StateSMixCompressor(level=6, content_size=len(DATA))
    assert out == c.compress(DATA) + c.flush()
    assert not src.with_name("doc.txt.ssx").exists()
    target = tmp_path / "sub.ssx"
    status, out, err = run_bin(["-o", target, "-3", src], capsysbinary)
    assert status == 0 and out == b""
    assert statesmix.decompress(target.read_bytes()) == DATA
    status, out, err = run_bin(["-dc", target], capsysbinary)
    assert status == 0 and out == DATA
    status, out, _ = run_bin(["-d", "-o", tmp_path / "plain", target], capsysbinary)
    assert status == 0 and (tmp_path / "plain").read_bytes() == DATA
    # -c with several files writes concatenated streams
    other = tmp_path / "other.txt"
    other.write_bytes(b"second file\n")
    status, out, _ = run_bin(["-c", src, other], capsysbinary)
    assert status == 0 and statesmix.decompress(out) == DATA + b"second file\n"


def test_stdin_to_stdout(capsysbinary, monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(DATA))
    status, out, err = run_bin([], capsysbinary)
    assert status == 0 and err == ""
    comp = out
    assert statesmix.decompress(comp) == DATA
    assert statesmix.StateSMixFile(io.BytesIO(comp)).read() == DATA
    monkeypatch.setattr(sys, "stdin", FakeStdin(comp))
    status, out, err = run_bin(["-d", "-"], capsysbinary)
    assert status == 0 and out == DATA
    monkeypatch.setattr(sys, "stdin", FakeStdin(comp))
    assert run_bin(["-t"], capsysbinary)[0] == 0


def test_refuses_terminal(src, capsys, monkeypatch):
    fake = FakeStdout(tty=True)
    monkeypatch.setattr(sys, "stdout", fake)
    status, _, err = run(["-c", src], capsys)
    assert status == 1
    one_error_line(err, "terminal")
    assert fake.buffer.getvalue() == b""
    assert run(["-c", "-f", src], capsys)[0] == 0
    assert statesmix.decompress(fake.buffer.getvalue()) == DATA
    monkeypatch.setattr(sys, "stdin", FakeStdin(b"", tty=True))
    status, _, err = run(["-d"], capsys)
    assert status == 1
    one_error_line(err, "(stdin)", "terminal")


def test_decompress_suffix_rules(tmp_path, capsysbinary):
    odd = tmp_path / "data.bin"
    odd.write_bytes(statesmix.compress(DATA))
    status, _, err = run_bin(["-d", odd], capsysbinary)
    assert status == 1
    one_error_line(err, "data.bin", "suffix")
    status, out, _ = run_bin(["-d", "-c", odd], capsysbinary)
    assert status == 0 and out == DATA
    # compressing a .ssx file again needs -f
    ssx = tmp_path / "x.ssx"
    ssx.write_bytes(b"whatever")
    status, _, err = run_bin([ssx], capsysbinary)
    assert status == 1
    one_error_line(err, "suffix")
    assert run_bin(["-f", ssx], capsysbinary)[0] == 0
    assert (tmp_path / "x.ssx.ssx").exists()


def test_test_mode(src, capsys, tmp_path):
    comp = statesmix.compress(DATA)
    good = tmp_path / "good.ssx"
    good.write_bytes(comp)
    status, out, err = run(["-t", good], capsys)
    assert (status, out, err) == (0, "", "")
    bad = tmp_path / "bad.ssx"
    b = bytearray(comp)
    b[len(b) // 2] ^= 0x55
    bad.write_bytes(bytes(b))
    status, out, err = run(["-t", bad, good], capsys)
    assert status == 1 and out == ""
    one_error_line(err, "bad.ssx")
    assert listing(tmp_path) == ["bad.ssx", "doc.txt", "good.ssx"]     # nothing written
    status, _, err = run(["-tv", good], capsys)
    assert status == 0 and "OK" in err


def test_list(tmp_path, capsys):
    a = tmp_path / "a.ssx"
    a.write_bytes(statesmix.compress(DATA, level=7, block_size=1024))
    status, out, err = run(["-l", a], capsys)
    assert status == 0 and err == ""
    head, row = out.strip().splitlines()
    for word in ("Compressed", "Uncompressed", "Ratio", "bpb", "Preset", "Level",
                 "Vocabulary", "Block"):
        assert word in head
    size = a.stat().st_size
    assert str(size) in row and str(len(DATA)) in row
    assert "%.3f" % (size / len(DATA)) in row
    assert "%.3f" % (8 * size / len(DATA)) in row
    assert "1 KiB" in row and " 7 " in row and "a.ssx" in row
    # -v decodes and reports the model statistics and the coder overhead
    status, out, err = run(["-l", "-v", a], capsys)
    assert status == 0 and err == ""
    for word in ("Tokens:", "Live vocabulary:", "Ideal code length:", "Coder overhead:",
                 "New-token lists:", "Ratio:", "bits per byte", "Block size:",
                 "Memory needed:"):
        assert word.lower() in out.lower(), word
    d = statesmix.StateSMixDecompressor()
    d.decompress(a.read_bytes())
    st = d.stats()
    overhead = 100 * (8 * st["payload_bytes"] - st["ideal_bits"]) / (8 * st["payload_bytes"])
    assert "%.4f %%" % overhead in out
    assert "%d" % st["tokens"] in out
    # several files, concatenated streams and a bad one
    b = tmp_path / "b.ssx"
    b.write_bytes(statesmix.compress(b"one") + statesmix.compress(b"two"))
    bad = tmp_path / "bad.ssx"
    bad.write_bytes(b"nonsense")
    status, out, err = run(["-l", a, bad, b], capsys)
    assert status == 1
    one_error_line(err, "bad.ssx")
    lines = out.strip().splitlines()
    assert any(line.split()[0] == "2" and "b.ssx" in line for line in lines)
    assert "2 files" in lines[-1]
    status, _, err = run(["-l", "-"], capsys)
    assert status == 1
    one_error_line(err, "standard input")


def test_errors_are_one_line_and_processing_continues(tmp_path, capsys):
    good = tmp_path / "good.txt"
    good.write_bytes(DATA)
    status, out, err = run([tmp_path / "missing.txt", tmp_path, good], capsys)
    assert status == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in err
    assert lines[0].startswith("statesmix: %s: " % (tmp_path / "missing.txt"))
    assert "No such file" in lines[0]
    assert "directory" in lines[1]
    assert (tmp_path / "good.txt.ssx").exists()


def test_usage_errors(capsys, src):
    assert run(["--level", "0", src], capsys)[0] == 2
    assert run(["--level", "x", src], capsys)[0] == 2
    assert run(["--block-size", "512", src], capsys)[0] == 2
    assert run(["--block-size", "12Q", src], capsys)[0] == 2
    assert run(["-T", "-1", src], capsys)[0] == 2
    assert run(["--preset", "nope", src], capsys)[0] == 2
    assert run(["-d", "-t", src], capsys)[0] == 2
    assert run(["-o", "x", src, src], capsys)[0] == 2
    assert run(["-c", "-o", "x", src], capsys)[0] == 2
    assert run(["--no-such-option"], capsys)[0] == 2
    assert not src.with_name("doc.txt.ssx").exists()


def test_version_and_help(capsys):
    status, out, _ = run(["--version"], capsys)
    assert status == 0 and out.strip() == "statesmix %s" % statesmix.__version__
    status, out, _ = run(["--help"], capsys)
    assert status == 0 and "--decompress" in out and "--block-size" in out


def test_parse_size():
    assert cli.parse_size("65536") == 65536
    assert cli.parse_size("64K") == 65536
    assert cli.parse_size("64k") == 65536
    assert cli.parse_size("64KiB") == 65536
    assert cli.parse_size("1M") == 1 << 20
    assert cli.parse_size("1MB") == 1 << 20
    assert cli.parse_size("2g") == 2 << 30
    assert cli.parse_size("100B") == 100
    for bad in ("", "K", "1.5M", "-1", "1T", "1 M B"):
        with pytest.raises(Exception):
            cli.parse_size(bad)


def test_options_reach_the_stream(src, capsys, tmp_path):
    out = tmp_path / "o.ssx"
    assert run(["-9", "--block-size", "1K", "-T", "0", "-o", out, src], capsys)[0] == 0
    d = statesmix.StateSMixDecompressor()
    assert d.decompress(out.read_bytes()) == DATA
    assert d.header.level == 9 and d.header.block_size == 1024
    assert d.header.content_size == len(DATA)
    assert run(["-f", "--level", "2", "-T", "1", "--preset", "count", "-o", out, src],
               capsys)[0] == 0
    d = statesmix.StateSMixDecompressor()
    assert d.decompress(out.read_bytes()) == DATA
    assert d.header.preset == 0
    assert run(["-f", "--vocabulary", "1", "-o", out, src], capsys)[0] == 0
    d = statesmix.StateSMixDecompressor()
    assert d.decompress(out.read_bytes()) == DATA and d.header.vocab_id == 1
    assert run(["--vocabulary", "no-such-vocab", src], capsys)[0] == 2


def test_verbose_summary_and_progress(src, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdout", FakeStdout(tty=False))
    status, _, err = run(["-v", "-c", src], capsys)
    assert status == 0
    line = err.strip().splitlines()[-1]
    for word in ("3000 ->", "ratio", "bpb", " s,", "KB/s", "tokens/s"):
        assert word in line
    # force the progress indicator (normally: -v on a terminal, after 0.5 s)
    monkeypatch.setattr(progress.Progress, "FIRST", 0.0)
    monkeypatch.setattr(progress.Progress, "EVERY", 0.01)
    big = tmp_path / "big.txt"
    big.write_bytes(make_text(20000, 2))
    status, _, err = run(["-vv", "--block-size", "1K", big], capsys)
    assert status == 0
    assert "\r" in err and "%" in err and "ETA" in err and "KB/s" in err
    assert err.endswith("\n")
    monkeypatch.setattr(sys, "stdin", FakeStdin(DATA))
    status, _, err = run(["-vv", "--block-size", "1K"], capsys)
    assert status == 0 and "KB/s" in err and "(stdin)" in err
    # -q keeps warnings quiet; errors still show
    status, _, err = run(["-q", tmp_path / "missing"], capsys)
    assert status == 1 and "missing" in err
    status, _, err = run(["-qq", tmp_path / "missing"], capsys)
    assert status == 1 and err == ""


def test_decompression_progress_follows_output():
    """The bar of -d moves with the bytes written, against the size the
    stream's header records (it used to follow compressed input, which is
    all read at once)."""
    data = make_text(200_000, 3)
    c = statesmix.StateSMixCompressor(preset="count", content_size=len(data))
    comp = c.compress(data) + c.flush()
    args = cli.build_parser().parse_args(["-d"])
    job = driver.Decompress(args, io.BytesIO(comp), None)
    assert job.probe() == (0, None)
    seen = []
    for piece in job.pieces():
        seen.append(job.probe())
    assert seen[0] == (driver.CHUNK, len(data))
    assert [done for done, _ in seen] == sorted(set(done for done, _ in seen))
    assert seen[-1][0] == len(data)


# ---------------------------------------------------------------- failures

def _failing_compressor(exc, after=1):
    real = driver.StateSMixCompressor

    class Failing(real):
        calls = 0

        def compress(self, data):
            Failing.calls += 1
            if Failing.calls > after:
                raise exc
            return super().compress(data)

    return Failing


def test_failure_midway_leaves_no_output(tmp_path, capsys, monkeypatch):
    big = tmp_path / "big.txt"
    payload = make_text(20000, 3)
    big.write_bytes(payload)
    monkeypatch.setattr(driver, "CHUNK", 4096)      # five pieces; blocks out after the first
    written = []
    real_write = output.Output.write
    monkeypatch.setattr(output.Output, "write",
                        lambda self, data: (written.append(len(data)), real_write(self, data)))
    monkeypatch.setattr(driver, "StateSMixCompressor",
                        _failing_compressor(statesmix.StateSMixError("simulated failure")))
    status, _, err = run(["--block-size", "1K", "--rm", big], capsys)
    assert written and sum(written) > 1000     # a partial output had been written
    assert status == 1
    one_error_line(err, "big.txt", "simulated failure")
    assert listing(tmp_path) == ["big.txt"]
    assert big.read_bytes() == payload


def test_failing_write_leaves_no_output(src, capsys, monkeypatch):
    def full(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.Output, "write", full)
    status, _, err = run([src], capsys)
    assert status == 1
    one_error_line(err, "doc.txt", "No space left")
    assert listing(src.parent) == ["doc.txt"]
    assert src.read_bytes() == DATA


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_dev_full(src, capsys):
    status, _, err = run(["-o", "/dev/full", src], capsys)
    assert status == 1
    one_error_line(err, "No space left")
    assert run(["-o", "/dev/null", src], capsys)[0] == 0     # a device needs no -f


def test_keyboard_interrupt(tmp_path, capsys, monkeypatch):
    big = tmp_path / "big.txt"
    payload = make_text(20000, 4)
    big.write_bytes(payload)
    before = os.stat(big)
    monkeypatch.setattr(driver, "CHUNK", 4096)
    monkeypatch.setattr(driver, "StateSMixCompressor",
                        _failing_compressor(KeyboardInterrupt(), after=2))
    status, out, err = run(["--rm", "--block-size", "1K", big, big], capsys)
    assert status == 130
    assert err.strip().splitlines() == ["statesmix: interrupted"]
    assert listing(tmp_path) == ["big.txt"]
    assert big.read_bytes() == payload
    assert os.stat(big).st_mtime_ns == before.st_mtime_ns


# ---------------------------------------------------------------- subprocesses

def _env():
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path)


def _cli(args, **kw):
    return subprocess.run([sys.executable, "-m", "statesmix"] + [str(a) for a in args],
                          capture_output=True, env=_env(), timeout=300, **kw)


def test_subprocess_pipe_round_trip(tmp_path):
    r = _cli([], input=DATA)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    comp = r.stdout
    r = _cli(["-d"], input=comp)
    assert r.returncode == 0 and r.stdout == DATA
    bad = tmp_path / "bad.ssx"
    bad.write_bytes(comp[:-3])
    r = _cli(["-t", bad])
    assert r.returncode == 1
    one_error_line(r.stderr.decode(), "bad.ssx")
    r = _cli(["--version"])
    assert r.returncode == 0 and statesmix.__version__ in r.stdout.decode()


def _stat(pid):
    """(state, parent pid) of a process; None once it is gone."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def _running(pid):
    st = _stat(pid)
    return st is not None and st[0] != "Z"


def _children(pid):
    """The pids of the running processes whose parent is `pid`."""
    return [int(n) for n in os.listdir("/proc") if n.isdigit()
            and _running(n) and _stat(n)[1] == pid]


def _interrupt(args, watch_dir, sig, wait=0.5):
    """Run the CLI, send `sig` `wait` seconds after its temporary output
    appeared; (exit status, stderr, seconds from the signal to the exit,
    the pids of its children just before the signal)."""
    proc = subprocess.Popen([sys.executable, "-m", "statesmix"] + [str(a) for a in args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if any(n.endswith(".tmp") for n in os.listdir(watch_dir)):
                break
            time.sleep(0.01)
        time.sleep(wait)
        children = _children(proc.pid)
        if proc.poll() is not None:
            pytest.skip("the command finished before it could be interrupted")
        t0 = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        latency = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.decode(), latency, children


# One block of the default size (1 MiB) holding 400 KB of text: the ssm
# preset codes it in seconds even on a fast machine (decompressing takes
# about 2 s, so it outlasts the half second before the signal), which the
# core spends in steps of a few hundredths of a second; a signal stops the
# run between two of them.
SIGNAL_TEXT = make_text(400_000, 6)


@pytest.fixture(scope="module")
def ssm_stream():
    return statesmix.compress(SIGNAL_TEXT, preset="ssm", threads=1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=lambda s: s.name)
@pytest.mark.parametrize("mode", ["compress", "decompress"])
def test_signal_stops_within_a_second(tmp_path, sig, mode, ssm_stream):
    """SIGINT, SIGTERM and SIGHUP stop a run within 1 s, exit 128 + the
    signal's number, leave no temporary file and never touch the input."""
    if mode == "compress":
        src = tmp_path / "big.txt"
        src.write_bytes(SIGNAL_TEXT)
        args = ["--preset", "ssm", "-T", "1", src]
    else:
        src = tmp_path / "big.txt.ssx"
        src.write_bytes(ssm_stream)
        args = ["-d", "-T", "1", src]
    before = src.read_bytes()
    rc, err, latency, _ = _interrupt(args, tmp_path, sig)
    assert rc == 128 + sig, err
    assert err.strip().splitlines() == ["statesmix: interrupted by %s" % sig.name]
    assert latency < 1.0
    assert listing(tmp_path) == [src.name]
    assert src.read_bytes() == before


def test_a_signal_ends_the_frame_workers_at_once(tmp_path):
    """SIGTERM while worker processes compress frames with a slow model: the
    tool exits 143 at once, leaves no temporary file and no worker behind."""
    src = tmp_path / "big.txt"
    src.write_bytes(make_text(400_000, 5))
    rc, err, latency, children = _interrupt(["--preset", "ssm", "--frame-size", "64K",
                                             "-T", "2", src], tmp_path, signal.SIGTERM, 2.0)
    assert rc == 143, err
    assert err.strip().splitlines() == ["statesmix: interrupted by SIGTERM"]
    assert latency < 3.0
    assert listing(tmp_path) == ["big.txt"]
    assert len(children) >= 2         # the two workers (and multiprocessing's helper)
    time.sleep(0.5)
    assert not [p for p in children if _running(p)]


def test_closed_output_pipe_exits_141(tmp_path):
    """statesmix -d -c f.ssx | head -c 10: the reader goes away; the tool
    stops with the status of SIGPIPE (as xz and zstd), quietly."""
    comp = tmp_path / "f.ssx"
    comp.write_bytes(statesmix.compress(make_text(300_000, 8), preset="count"))
    proc = subprocess.Popen([sys.executable, "-m", "statesmix", "-d", "-c", str(comp)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        assert len(proc.stdout.read(10)) == 10
        proc.stdout.close()
        err = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 141, err
    assert err == b""


@pytest.mark.parametrize("args,closed,message", [
    (["-c", "{src}"], ">&-", "standard output is closed"),
    (["-d"], "<&-", "standard input is closed"),
])
def test_closed_standard_streams(src, args, closed, message):
    cmd = " ".join([shlex.quote(sys.executable), "-m", "statesmix"]
                   + [shlex.quote(a.format(src=src)) for a in args]) + " " + closed
    r = subprocess.run(["sh", "-c", cmd], capture_output=True, env=_env(), timeout=60)
    assert r.returncode == 1
    one_error_line(r.stderr.decode(), message)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_rm_of_a_fifo_does_not_hang(tmp_path):
    """--rm never reopens a non-regular input to verify it: a FIFO is
    compressed, kept, and the tool says why."""
    fifo = tmp_path / "ff"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", "cat > %s" % shlex.quote(str(fifo))],
                              stdin=subprocess.PIPE)
    proc = subprocess.Popen([sys.executable, "-m", "statesmix", "--rm", "--preset", "count",
                             "-o", str(tmp_path / "ff.ssx"), str(fifo)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    writer.communicate(DATA, timeout=60)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"input kept" in err
    assert fifo.exists()
    assert statesmix.decompress((tmp_path / "ff.ssx").read_bytes()) == DATA


@pytest.mark.skipif(not (SHARED / "corpus").is_dir(),
                    reason="needs ../shared/corpus (the repository's sibling data "
                           "directory), which is absent")
def test_subprocess_real_text(tmp_path):
    files = sorted((SHARED / "corpus").iterdir())
    sample = files[0].read_bytes()[:20000]
    src = tmp_path / "sample.txt"
    src.write_bytes(sample)
    r = _cli(["-k", src])
    assert r.returncode == 0, r.stderr
    r = _cli(["-dc", str(src) + ".ssx"])
    assert r.returncode == 0 and r.stdout == sample
    assert (tmp_path / "sample.txt.ssx").stat().st_size < len(sample) * 0.6


# ---------------------------------------------------------------- a full disk

class _FullDisk(io.RawIOBase):
    """A raw file that accepts `room` bytes, then fails with ENOSPC."""

    def __init__(self, fd, room):
        self.fd = fd
        self.room = room

    def writable(self):
        return True

    def fileno(self):
        return self.fd

    def write(self, b):
        b = memoryview(b).cast("B")
        if not self.room:
            raise OSError(28, "No space left on device")
        n = os.write(self.fd, b[:self.room])
        self.room -= n
        return n

    def close(self):
        if not self.closed:
            os.close(self.fd)
        super().close()


def _full_disk(monkeypatch, room, buffer_size=io.DEFAULT_BUFFER_SIZE):
    """Every output file the CLI opens gets `room` bytes of space."""
    real = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        if mode == "wb":
            return io.BufferedWriter(_FullDisk(fd, room), buffer_size)
        return real(fd, mode, *args, **kwargs)

    monkeypatch.setattr(output.os, "fdopen", fdopen)


@pytest.mark.parametrize("buffer_size", [64, io.DEFAULT_BUFFER_SIZE])
def test_full_disk_midway_compress(src, capsys, monkeypatch, buffer_size):
    """The disk fills after some output was written (in write() with a small
    buffer, in the final flush with the default one): no partial output, no
    temporary file, the input kept even with --rm."""
    _full_disk(monkeypatch, 300, buffer_size)
    status, _, err = run(["--rm", "--block-size", "1K", src], capsys)
    assert status == 1
    one_error_line(err, "doc.txt", "No space left")
    assert listing(src.parent) == ["doc.txt"]
    assert src.read_bytes() == DATA


@pytest.mark.parametrize("buffer_size", [64, io.DEFAULT_BUFFER_SIZE])
def test_full_disk_midway_decompress(src, capsys, monkeypatch, buffer_size):
    assert run([src], capsys)[0] == 0
    comp = src.parent / "doc.txt.ssx"
    packed = comp.read_bytes()
    src.unlink()
    _full_disk(monkeypatch, 1000, buffer_size)
    status, _, err = run(["-d", "--rm", comp], capsys)
    assert status == 1
    one_error_line(err, "No space left")
    assert listing(src.parent) == ["doc.txt.ssx"]
    assert comp.read_bytes() == packed


def test_full_disk_keeps_existing_output(src, capsys, monkeypatch, tmp_path):
    """-f over an existing file: the old file survives a failed write."""
    out = tmp_path / "out.ssx"
    out.write_bytes(b"previous contents")
    _full_disk(monkeypatch, 100, 64)
    status, _, err = run(["-f", "-o", out, src], capsys)
    assert status == 1
    one_error_line(err, "No space left")
    assert out.read_bytes() == b"previous contents"
    assert listing(tmp_path) == ["doc.txt", "out.ssx"]
    assert src.read_bytes() == DATA


def test_memory_limit_option(src, capsys, tmp_path):
    # the estimate follows the file's size: the process's base (92 MiB) and
    # tables for a few KB
    status, _, err = run(["--memory-limit", "96M", "--preset", "paper", src], capsys)
    assert status == 1
    one_error_line(err, "doc.txt", "memory limit of 96 MiB")
    assert listing(tmp_path) == ["doc.txt"]
    assert run(["--memory-limit", "128M", "--preset", "count", src], capsys)[0] == 0
    comp = tmp_path / "doc.txt.ssx"
    status, _, err = run(["-t", "--memory-limit", "4M", comp], capsys)
    assert status == 1
    one_error_line(err, "memory limit")
    assert run(["-t", "--memory-limit", "128M", comp], capsys)[0] == 0
    for bad in ("0", "lots"):
        assert run(["--memory-limit", bad, src], capsys)[0] == 2


def test_memory_limit_fits_a_pipe(capsysbinary, monkeypatch):
    """From a pipe the size is unknown and the tables would be at their
    largest (over 2 GiB): under a limit they are made to fit, and the stream
    decodes within it."""
    monkeypatch.setattr(sys, "stdin", FakeStdin(DATA))
    status, out, err = run_bin(["-T", "1", "--memory-limit", "300M"], capsysbinary)
    assert status == 0 and not err
    config = ct.parse_header(out, 0)[0].config
    assert config is not None and config["ngram_mem_mb"] < 2048
    monkeypatch.setattr(sys, "stdin", FakeStdin(out))
    status, back, _ = run_bin(["-d", "--memory-limit", "300M"], capsysbinary)
    assert status == 0 and back == DATA


def test_a_regular_output_records_the_memory_the_model_took(tmp_path, capsys):
    """Into a regular file the header gets the model's measured memory (the
    field reserved, then filled in); to standard output it cannot be."""
    data = make_text(70_000, 41)
    src = tmp_path / "t.txt"
    src.write_bytes(data)
    status, _, err = run(["-k", "--preset", "plus", src], capsys)
    assert status == 0 and err == ""
    blob = (tmp_path / "t.txt.ssx").read_bytes()
    header = statesmix.container.parse_header(blob, 0)[0]
    assert header.memory and header.content_size == len(data)
    assert statesmix.decompress(blob) == data
    # the same stream as compress() writes
    assert blob == statesmix.compress(data, preset="plus")
    status, out, _ = run(["-l", "-v", tmp_path / "t.txt.ssx"], capsys)
    assert status == 0 and "as the encoder measured it" in out
    piped = subprocess.run([sys.executable, "-m", "statesmix", "-c", "--preset", "plus",
                            str(src)], capture_output=True, check=True,
                           env=_env()).stdout
    assert statesmix.container.parse_header(piped, 0)[0].memory is None
    assert statesmix.decompress(piped) == data
