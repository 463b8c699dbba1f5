"""The statesmix command line tool, following xz / zstd conventions.

    statesmix FILE...            compress each FILE to FILE.ssx (input kept)
    statesmix -d FILE.ssx...     decompress to FILE
    statesmix -t FILE.ssx...     decode and verify, write nothing
    statesmix -l [-v] FILE.ssx   list sizes, ratio and settings
    statesmix < in > out.ssx     no FILE (or "-"): standard input to output

Outputs are written to a temporary file in the output's directory and renamed
into place only when complete, so an error, a full disk or Ctrl-C never leaves
a partial output and never touches the input.  An existing output is never
overwritten without -f.  Errors print one line "statesmix: FILE: message"
and processing goes on with the next file; the exit status is 0 when all went
well, 1 when some file failed, 2 for a usage error and 130 after Ctrl-C.
"""
import argparse
import os
import re
import stat
import sys
import tempfile
import threading
import time

from . import __version__
from . import container as ct
from .api import StateSMixCompressor, StateSMixDecompressor
from .errors import StateSMixError
from .presets import BY_NAME, DEFAULT_LEVEL, preset_name

SUFFIX = ".ssx"
CHUNK = 64 * 1024          # input fed to the (de)compressor at a time
OUT_CHUNK = 1 << 20        # most decompressed bytes produced per decoder call
STDIN_NAME = "(stdin)"
STDOUT_NAME = "(stdout)"


class CLIError(Exception):
    """A failure with a message meant for the user, about one file."""


# ------------------------------------------------------------------ messages

class _Console:
    def __init__(self, verbose=0, quiet=0):
        self.verbose = verbose
        self.quiet = quiet

    def error(self, name, msg):
        if self.quiet < 2:
            msg = " ".join(str(msg).split()) or "unknown error"
            _stderr("statesmix: %s: %s" % (name, msg))

    def warn(self, name, msg):
        if self.quiet < 1:
            _stderr("statesmix: %s: %s" % (name, msg))

    def info(self, line):
        if self.verbose and self.quiet < 1:
            _stderr(line)


def _stderr(line):
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _fmt_bytes(n):
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return "%.1f %s" % (n / scale, unit)
    return "%d B" % n


def _fmt_block(n):
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n % scale == 0:
            return "%d %s" % (n // scale, unit)
    return "%d B" % n


def _fmt_time(sec):
    if sec is None or sec != sec or sec > 360000:
        return "--:--"
    sec = int(sec + 0.5)
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return "%d:%02d:%02d" % (h, m, s) if h else "%d:%02d" % (m, s)


class _Progress:
    """A one-line progress indicator on stderr: bar, percentage, rate and ETA
    when the total is known, bytes done and rate otherwise.

    A background thread asks `probe()` for the bytes done and redraws at most
    4 times a second, starting after half a second (so short jobs draw
    nothing).  The C core releases the GIL while it codes a block, so the
    indicator keeps moving inside a long block."""

    FIRST = 0.5
    EVERY = 0.25

    def __init__(self, label, total, enabled, probe):
        self.label = label if len(label) <= 32 else "..." + label[-29:]
        self.total = total
        self.probe = probe
        self.t0 = time.monotonic()
        self.width = 0
        self._stop = threading.Event()
        self._thread = None
        if enabled:
            self._thread = threading.Thread(target=self._run, name="statesmix-progress",
                                            daemon=True)
            self._thread.start()

    def _run(self):
        if self._stop.wait(self.FIRST):
            return
        while True:
            try:
                self._draw(self.probe())
            except Exception:
                return
            if self._stop.wait(self.EVERY):
                return

    def _draw(self, done):
        elapsed = time.monotonic() - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(frac * 24)
            eta = (self.total - done) / rate if rate > 0 else None
            line = "%s [%-24s] %5.1f%% %9.1f KB/s  ETA %s" % (
                self.label, bar, 100.0 * frac, rate / 1000.0, _fmt_time(eta))
        else:
            line = "%s %s %9.1f KB/s  %s" % (self.label, _fmt_bytes(done),
                                             rate / 1000.0, _fmt_time(elapsed))
        pad = max(0, self.width - len(line))
        self.width = len(line)
        sys.stderr.write("\r" + line + " " * pad)
        sys.stderr.flush()

    def close(self):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if self.width:
            try:
                sys.stderr.write("\r" + " " * self.width + "\r")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            self.width = 0


class _CompressProbe:
    """Bytes coded so far, estimated inside a block from the tokens the model
    has coded (the compressor's stats() are updated by the C core as it goes)
    and the bytes per token seen so far."""

    def __init__(self, comp):
        self.comp = comp
        self.fed = 0
        self.bpt = 4.0
        self.coded = 0

    def __call__(self):
        st = self.comp.stats()
        coded, tokens = st.get("input_bytes", 0), st.get("tokens", 0)
        if coded != self.coded and tokens:
            self.coded = coded
            self.bpt = coded / tokens
        return max(coded, min(self.fed, int(tokens * self.bpt)))


# ------------------------------------------------------------------ streams

def _stdin():
    return getattr(sys.stdin, "buffer", sys.stdin)


def _stdout():
    return getattr(sys.stdout, "buffer", sys.stdout)


def _isatty(f):
    try:
        return f.isatty()
    except (AttributeError, OSError, ValueError):
        return False


class _Decoder:
    """Decodes every concatenated stream of a binary file object, in pieces."""

    def __init__(self, fin, threads=None, memory_limit=None):
        self.fin = fin
        self.threads = threads
        self.memory_limit = memory_limit
        self.nin = 0
        self.streams = []   # (header, stats) of each finished stream

    def _read(self):
        data = self.fin.read(CHUNK)
        self.nin += len(data)
        return data

    def chunks(self):
        pending = b""
        while True:
            data = pending or self._read()
            pending = b""
            if not data:
                if not self.streams:
                    raise StateSMixError("not a statesmix stream (empty input)")
                return
            d = StateSMixDecompressor(threads=self.threads,
                                      memory_limit=self.memory_limit)
            while True:
                out = d.decompress(data, OUT_CHUNK)
                data = b""
                if out:
                    yield out
                if d.eof:
                    break
                if d.needs_input:
                    data = self._read()
                    if not data:
                        raise StateSMixError("compressed data ended before the end "
                                             "of the stream")
            self.streams.append((d.header, d.stats()))
            pending = d.unused_data


class _Output:
    """Where one result goes: standard output, a device written in place, or
    a regular file written through a temporary file renamed on commit()."""

    def __init__(self, dest, force, src_path=None, src_stat=None, compressed=False):
        self.dest = dest
        self.force = force
        self.src_stat = src_stat
        self.tmp = None
        self.f = None
        self.regular = False
        if dest == "-":
            self.f = _stdout()
            if compressed and not force and _isatty(self.f):
                raise CLIError("compressed data not written to a terminal "
                               "(use -f to force)")
            return
        try:
            st = os.stat(dest)
        except FileNotFoundError:
            st = None
        if st is not None and src_path is not None and src_stat is not None \
                and os.path.samestat(st, src_stat):
            raise CLIError("output %s is the input file" % dest)
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise CLIError("output %s is a directory" % dest)
        if st is not None and not stat.S_ISREG(st.st_mode):
            # /dev/null, a FIFO...: written in place
            self.f = open(dest, "wb")
            return
        if st is not None and not force:
            raise CLIError("output file %s already exists (use -f to overwrite)" % dest)
        self.regular = True
        directory = os.path.dirname(os.path.abspath(dest))
        fd, self.tmp = tempfile.mkstemp(prefix="." + os.path.basename(dest) + ".",
                                        suffix=".tmp", dir=directory)
        try:
            self.f = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            self._unlink_tmp()
            raise

    def write(self, data):
        self.f.write(data)

    def _unlink_tmp(self):
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None

    def finish(self, sync=False):
        """Flush and close the data (the temporary file stays unrenamed)."""
        if self.dest == "-":
            self.f.flush()
            return
        f, self.f = self.f, None
        try:
            f.flush()
            if sync and self.regular:
                os.fsync(f.fileno())
        finally:
            f.close()
        if self.regular:
            st = self.src_stat
            if st is not None and stat.S_ISREG(st.st_mode):
                os.chmod(self.tmp, stat.S_IMODE(st.st_mode) & 0o777)
                os.utime(self.tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
            else:
                mask = os.umask(0)
                os.umask(mask)
                os.chmod(self.tmp, 0o666 & ~mask)

    def commit(self):
        """Move the finished temporary file into place."""
        if not self.regular:
            return
        if self.force:
            os.replace(self.tmp, self.dest)
        else:
            try:
                os.link(self.tmp, self.dest)      # never clobbers
            except FileExistsError:
                raise CLIError("output file %s already exists (use -f to overwrite)"
                               % self.dest) from None
            except OSError:
                # a file system without hard links
                if os.path.lexists(self.dest):
                    raise CLIError("output file %s already exists (use -f to "
                                   "overwrite)" % self.dest) from None
                os.replace(self.tmp, self.dest)
                self.tmp = None
                return
            os.unlink(self.tmp)
        self.tmp = None

    def abort(self):
        """Drop everything written (nothing to undo on stdout or a device)."""
        if self.f is not None and self.dest != "-":
            try:
                self.f.close()
            except OSError:
                pass
            self.f = None
        self._unlink_tmp()


# ------------------------------------------------------------------ actions

def _compressor(args, content_size):
    level = args.level
    if level is None and args.preset is None:
        level = DEFAULT_LEVEL
    return StateSMixCompressor(level, preset=args.preset, threads=args.threads,
                               block_size=args.block_size, vocabulary=args.vocabulary,
                               content_size=content_size, memory_limit=args.memory_limit)


def _open_input(src):
    """(file, stat or None, display name) of an input; "-" is stdin."""
    if src == "-":
        return _stdin(), None, STDIN_NAME
    st = os.stat(src)
    if stat.S_ISDIR(st.st_mode):
        raise CLIError("is a directory, skipping")
    return open(src, "rb"), st, src


def _verify_compressed(path, src, threads):
    """Decode the file at `path` fully and compare it with the file `src`."""
    with open(path, "rb") as fc, open(src, "rb") as fi:
        for piece in _Decoder(fc, threads).chunks():
            if fi.read(len(piece)) != piece:
                raise CLIError("verification failed: the output does not decode to "
                               "the input; input kept")
        if fi.read(1):
            raise CLIError("verification failed: the output is shorter than the "
                           "input; input kept")


def _remove_input(src, con):
    os.unlink(src)


def _do_compress(src, args, con):
    fin, st, name = _open_input(src)
    try:
        if args.stdout:
            dest = "-"
        elif args.output:
            dest = args.output
        elif src == "-":
            dest = "-"
        else:
            if src.endswith(SUFFIX) and not args.force:
                raise CLIError("already has %s suffix, skipping" % SUFFIX)
            dest = src + SUFFIX
        size = st.st_size if st is not None and stat.S_ISREG(st.st_mode) \
            and st.st_size > 0 else None
        comp = _compressor(args, size)
        out = _Output(dest, args.force, src if st else None, st, compressed=True)
        probe = _CompressProbe(comp)
        progress = _Progress(name, size, _progress_enabled(args), probe)
        try:
            t0 = time.monotonic()
            nin = nout = 0
            while True:
                chunk = fin.read(CHUNK)
                if not chunk:
                    break
                nin += len(chunk)
                probe.fed = nin
                data = comp.compress(chunk)
                if data:
                    out.write(data)
                    nout += len(data)
            data = comp.flush()
            out.write(data)
            nout += len(data)
            elapsed = time.monotonic() - t0
            progress.close()
            remove = args.rm and src != "-" and out.regular
            out.finish(sync=remove)
            if remove:
                _verify_compressed(out.tmp, src, args.threads)
            out.commit()
        except BaseException:
            progress.close()
            out.abort()
            raise
    finally:
        if fin is not _stdin():
            fin.close()
    if args.rm and src != "-":
        if remove:
            _remove_input(src, con)
        else:
            con.warn(name, "input kept (--rm needs a regular output file)")
    if args.verbose:
        tokens = comp.stats().get("tokens", 0)
        ratio = "%.3f" % (nout / nin) if nin else "-"
        bpb = "%.3f" % (8.0 * nout / nin) if nin else "-"
        sec = max(elapsed, 1e-9)
        con.info("%s: %d -> %d bytes, ratio %s, %s bpb, %.2f s, %.1f KB/s, %.0f tokens/s"
                 % (name, nin, nout, ratio, bpb, elapsed, nin / sec / 1000.0,
                    tokens / sec))


def _decompressed_name(src, args):
    if args.stdout or src == "-":
        return "-" if not args.output else args.output
    if args.output:
        return args.output
    if src.endswith(SUFFIX) and len(os.path.basename(src)) > len(SUFFIX):
        return src[:-len(SUFFIX)]
    raise CLIError("unknown suffix, skipping (use -c or -o to decompress it)")


def _do_decompress(src, args, con, test=False):
    if src == "-" and _isatty(_stdin()) and not args.force:
        raise CLIError("compressed data not read from a terminal (use -f to force)")
    dest = None if test else _decompressed_name(src, args)
    fin, st, name = _open_input(src)
    try:
        size = st.st_size if st is not None and stat.S_ISREG(st.st_mode) else None
        out = None if test else _Output(dest, args.force, src if st else None, st)
        dec = _Decoder(fin, args.threads, args.memory_limit)
        progress = _Progress(name, size, _progress_enabled(args), lambda: dec.nin)
        try:
            t0 = time.monotonic()
            nout = 0
            for piece in dec.chunks():
                nout += len(piece)
                if out is not None:
                    out.write(piece)
            elapsed = time.monotonic() - t0
            progress.close()
            if out is not None:
                remove = args.rm and src != "-" and out.regular
                out.finish(sync=remove)
                out.commit()
        except BaseException:
            progress.close()
            if out is not None:
                out.abort()
            raise
    finally:
        if fin is not _stdin():
            fin.close()
    if not test and args.rm and src != "-":
        if remove:
            _remove_input(src, con)
        else:
            con.warn(name, "input kept (--rm needs a regular output file)")
    if args.verbose:
        sec = max(elapsed, 1e-9)
        con.info("%s: %s%d -> %d bytes, %d stream%s, %.2f s, %.1f KB/s"
                 % (name, "OK, " if test else "", dec.nin, nout, len(dec.streams),
                    "" if len(dec.streams) == 1 else "s", elapsed, nout / sec / 1000.0))


def _progress_enabled(args):
    if not args.verbose or args.quiet:
        return False
    return args.verbose >= 2 or _isatty(sys.stderr)


# ------------------------------------------------------------------ --list

_HEADER_READ = 256


def _walk(f, size):
    """The streams of a seekable .ssx file, read from the container structure
    only (no decoding): list of dicts."""
    if size == 0:
        raise StateSMixError("not a statesmix stream (empty file)")
    streams = []
    pos = 0
    while pos < size:
        f.seek(pos)
        r = ct.parse_header(f.read(_HEADER_READ), 0)
        if r is None:
            raise StateSMixError("truncated stream header")
        header, n = r
        start = pos
        pos += n
        blocks = raw = 0
        while True:
            f.seek(pos)
            buf = f.read(40)
            r = ct.parse_block_header(buf, 0, header)
            if r is None:
                raise StateSMixError("truncated block header")
            (raw_len, _, body_len), n = r
            if raw_len == 0:
                t = ct.parse_trailer(buf, n)
                if t is None:
                    raise StateSMixError("truncated stream trailer")
                (total, _), n = t
                pos += n
                if total != raw or (header.content_size is not None
                                    and header.content_size != total):
                    raise StateSMixError("corrupt stream (sizes do not add up)")
                break
            pos += n + body_len
            if pos > size:
                raise StateSMixError("truncated block")
            blocks += 1
            raw += raw_len
        streams.append({"header": header, "blocks": blocks, "size": raw,
                        "compressed": pos - start})
    return streams


def _vocab_name(vid):
    try:
        from .tokenizer import list_vocabularies
        for e in list_vocabularies():
            if e.get("id") == vid:
                return e.get("name", "?")
    except Exception:
        pass
    return "unknown"


def _describe(values, fmt):
    vals = sorted(set(values), key=str)
    return fmt(vals[0]) if len(vals) == 1 else "mixed"


def _list_one(src, args, con, totals):
    if src == "-":
        raise CLIError("--list does not read standard input")
    st = os.stat(src)
    if stat.S_ISDIR(st.st_mode):
        raise CLIError("is a directory, skipping")
    with open(src, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        streams = _walk(f, size)
        dec = None
        if args.verbose:
            f.seek(0)
            dec = _Decoder(f, args.threads, args.memory_limit)
            nout = 0
            for piece in dec.chunks():
                nout += len(piece)
    raw = sum(s["size"] for s in streams)
    blocks = sum(s["blocks"] for s in streams)
    headers = [s["header"] for s in streams]
    ratio = "%.3f" % (size / raw) if raw else "-"
    bpb = "%.3f" % (8.0 * size / raw) if raw else "-"
    preset = _describe([h.preset for h in headers], preset_name)
    level = _describe([h.level for h in headers], lambda v: str(v) if v else "-")
    vocab = _describe([h.vocab_id for h in headers],
                      lambda v: "%d:%s" % (v, _vocab_name(v)))
    block = _describe([h.block_size for h in headers], _fmt_block)
    totals["files"] += 1
    totals["streams"] += len(streams)
    totals["blocks"] += blocks
    totals["compressed"] += size
    totals["size"] += raw
    if not args.verbose:
        _print_row(len(streams), blocks, size, raw, ratio, bpb, preset, level, vocab,
                   block, src)
        return
    st_sum = {"tokens": 0, "new_tokens": 0, "ideal_bits": 0.0, "payload_bytes": 0,
              "vocab_bytes": 0, "live": 0}
    for _, s in dec.streams:
        for k in st_sum:
            st_sum[k] += s.get(k, 0)
    pay = st_sum["payload_bytes"]
    overhead = "%.4f %%" % (100.0 * (8 * pay - st_sum["ideal_bits"]) / (8 * pay)) \
        if pay else "-"
    lines = [
        src,
        "  Streams:              %d" % len(streams),
        "  Blocks:               %d" % blocks,
        "  Compressed size:      %d B (%s)" % (size, _fmt_bytes(size)),
        "  Uncompressed size:    %d B (%s)" % (raw, _fmt_bytes(raw)),
        "  Ratio:                %s" % ratio,
        "  Bits per byte (bpb):  %s" % bpb,
        "  Preset:               %s" % preset,
        "  Level:                %s" % level,
        "  Vocabulary:           %s" % vocab,
        "  Block size:           %s" % block,
        "  Tokens:               %d" % st_sum["tokens"],
        "  Live vocabulary:      %d tokens" % st_sum["live"],
        "  New-token lists:      %d B (%d tokens)" % (st_sum["vocab_bytes"],
                                                       st_sum["new_tokens"]),
        "  Ideal code length:    %.1f bits (%.1f B)" % (st_sum["ideal_bits"],
                                                        st_sum["ideal_bits"] / 8),
        "  Range-coder payload:  %d B" % pay,
        "  Coder overhead:       %s" % overhead,
        "  Check:                xxHash64 OK",
    ]
    _print("\n".join(lines))


_ROW = "%5s %6s %12s %13s %6s %6s  %-8s %5s  %-14s %8s  %s"


def _print(text):
    sys.stdout.write(text + "\n")


def _print_row(*cols):
    _print(_ROW % tuple(cols))


def _do_list(files, args, con):
    totals = {"files": 0, "streams": 0, "blocks": 0, "compressed": 0, "size": 0}
    if not args.verbose:
        _print_row("Strms", "Blocks", "Compressed", "Uncompressed", "Ratio", "bpb",
                   "Preset", "Level", "Vocabulary", "Block", "Filename")
    status = 0
    for src in files:
        status |= _guard(con, src if src != "-" else STDIN_NAME,
                         lambda: _list_one(src, args, con, totals))
    if totals["files"] > 1:
        raw, size = totals["size"], totals["compressed"]
        ratio = "%.3f" % (size / raw) if raw else "-"
        bpb = "%.3f" % (8.0 * size / raw) if raw else "-"
        if args.verbose:
            _print("Totals: %d files, %d streams, %d blocks, %d -> %d B, ratio %s, %s bpb"
                   % (totals["files"], totals["streams"], totals["blocks"], size, raw,
                      ratio, bpb))
        else:
            _print("-" * 20)
            _print_row(totals["streams"], totals["blocks"], size, raw, ratio, bpb,
                       "", "", "", "", "%d files" % totals["files"])
    return status


# ------------------------------------------------------------------ main

def _guard(con, name, fn):
    """Run fn() for one file: 0 on success, 1 after printing one error line."""
    try:
        fn()
        return 0
    except (CLIError, StateSMixError) as e:
        con.error(name, e)
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            _silence_stdout()
        con.error(name, e.strerror or e)
    except MemoryError:
        con.error(name, "out of memory")
    except Exception as e:  # a bug; still one line, and on to the next file
        con.error(name, "internal error: %s: %s" % (type(e).__name__, e))
    return 1


def _silence_stdout():
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


_SIZE_RE = re.compile(r"^\s*(\d+)\s*(?:([kmg])(?:i?b)?|b)?\s*$", re.IGNORECASE)


def parse_size(text):
    """'65536', '64K', '64KiB', '1M', '1MB' -> bytes (binary multiples)."""
    m = _SIZE_RE.match(text)
    if not m:
        raise argparse.ArgumentTypeError("invalid size %r (examples: 65536, 64K, 1M)"
                                         % text)
    n = int(m.group(1))
    unit = (m.group(2) or "").lower()
    n <<= {"": 0, "k": 10, "m": 20, "g": 30}[unit]
    return n


def _block_size(text):
    n = parse_size(text)
    if not ct.MIN_BLOCK_SIZE <= n <= ct.MAX_BLOCK_SIZE:
        raise argparse.ArgumentTypeError(
            "block size must be between %s and %s"
            % (_fmt_block(ct.MIN_BLOCK_SIZE), _fmt_block(ct.MAX_BLOCK_SIZE)))
    return n


def _memory_limit(text):
    n = parse_size(text)
    if n <= 0:
        raise argparse.ArgumentTypeError("memory limit must be a positive size")
    return n


def _level(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if not 1 <= v <= 9:
        raise argparse.ArgumentTypeError("level must be an integer from 1 to 9")
    return v


def _threads(text):
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError("threads must be a number >= 0 (0 = all cores)")
    return v


def _preset(text):
    if text not in BY_NAME:
        raise argparse.ArgumentTypeError("unknown preset %r (known: %s)"
                                         % (text, ", ".join(sorted(BY_NAME))))
    return text


def _vocabulary(text):
    from .tokenizer import list_vocabularies
    try:
        entries = list_vocabularies()
    except StateSMixError as e:
        raise argparse.ArgumentTypeError(str(e))
    for e in entries:
        if str(e["id"]) == text or e["name"] == text:
            return e["id"]
    raise argparse.ArgumentTypeError("unknown vocabulary %r (known: %s)" % (
        text, ", ".join("%d:%s" % (e["id"], e["name"]) for e in entries)))


def build_parser():
    p = argparse.ArgumentParser(
        prog="statesmix",
        description="Compress or decompress FILEs in the .ssx format (an online-"
                    "trained model over BPE tokens and a range coder).  With no "
                    "FILE, or when FILE is -, read standard input and write "
                    "standard output.",
        epilog="Ratio is compressed/original size; bpb is 8*compressed/original.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("-z", "--compress", dest="mode", action="store_const",
                      const="compress", help="compress (the default)")
    mode.add_argument("-d", "--decompress", "--uncompress", dest="mode",
                      action="store_const", const="decompress", help="decompress")
    mode.add_argument("-t", "--test", dest="mode", action="store_const", const="test",
                      help="decode and verify the files, write nothing")
    mode.add_argument("-l", "--list", dest="mode", action="store_const", const="list",
                      help="list information about .ssx files (with -v: decode them "
                           "and report model statistics)")
    p.set_defaults(mode="compress", keep=True)
    p.add_argument("-k", "--keep", dest="keep", action="store_true",
                   help="keep the input files (the default)")
    p.add_argument("--rm", dest="keep", action="store_false",
                   help="remove each input once its output is complete and verified")
    p.add_argument("-c", "--stdout", "--to-stdout", action="store_true",
                   help="write to standard output")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (one input)")
    p.add_argument("-f", "--force", action="store_true",
                   help="overwrite outputs, write compressed data to a terminal, "
                        "compress files that already have the suffix")
    p.add_argument("-T", "--threads", type=_threads, metavar="N", default=None,
                   help="threads for the model (0 = all cores); never changes output")
    for lvl in range(1, 10):
        p.add_argument("-%d" % lvl, dest="level", action="store_const", const=lvl,
                       help=argparse.SUPPRESS)
    p.add_argument("--level", type=_level, metavar="N", dest="level",
                   help="compression level 1-9 (also -1 .. -9; default %d)"
                        % DEFAULT_LEVEL)
    p.add_argument("--preset", type=_preset, metavar="NAME",
                   help="model preset by name (%s)" % ", ".join(sorted(BY_NAME)))
    p.add_argument("--block-size", type=_block_size, metavar="BYTES",
                   help="block size, e.g. 1M or 64K (default %s)"
                        % _fmt_block(ct.DEFAULT_BLOCK_SIZE))
    p.add_argument("--vocabulary", type=_vocabulary, metavar="ID|NAME",
                   help="BPE vocabulary to compress with (default: the registry's)")
    p.add_argument("--memory-limit", type=_memory_limit, metavar="SIZE", default=None,
                   help="refuse to compress or decompress a stream whose model may "
                        "need more memory than SIZE, e.g. 512M or 2G (estimated "
                        "from the stream's configuration)")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="progress indicator on a terminal (-vv: always) and a "
                        "summary line; with -l, decode and report model statistics")
    p.add_argument("-q", "--quiet", action="count", default=0,
                   help="suppress warnings (-qq: errors too)")
    p.add_argument("-V", "--version", action="version",
                   version="statesmix %s" % __version__)
    p.add_argument("files", nargs="*", metavar="FILE")
    return p


def main(argv=None):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        files = args.files or ["-"]
        if args.output and args.stdout:
            parser.error("-c/--stdout and -o/--output cannot be combined")
        if args.output and len(files) > 1:
            parser.error("-o/--output takes a single input file")
        if files.count("-") > 1:
            parser.error("standard input (-) given more than once")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    args.rm = not args.keep
    if args.mode in ("test", "list") or args.stdout:
        args.rm = False
    con = _Console(args.verbose, args.quiet)
    try:
        if args.mode == "list":
            return _do_list(files, args, con)
        status = 0
        for src in files:
            name = STDIN_NAME if src == "-" else src
            if args.mode == "compress":
                status |= _guard(con, name, lambda: _do_compress(src, args, con))
            else:
                status |= _guard(con, name, lambda: _do_decompress(
                    src, args, con, test=args.mode == "test"))
        return status
    except KeyboardInterrupt:
        _stderr("statesmix: interrupted")
        return 130
