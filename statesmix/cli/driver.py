"""One driver for every file the tool compresses, decompresses or tests:
open the input, name and open the output, run the coder with a progress
line, finish, verify (before --rm), commit, and on any failure or signal
remove the temporary output.  The input is removed only when --rm was
given, it is a regular file and its output is a complete, verified regular
file; verification never reopens anything but a regular file, so a FIFO
cannot hang it."""
import os
import stat
import time

from ..compressor import StateSMixCompressor
from ..frames import FrameCompressor, open_reader
from ..presets import RECORD_MEMORY_MIN
from .console import STDIN_NAME, CLIError, isatty
from .output import Output, stdin_buffer
from .progress import Progress

SUFFIX = ".ssx"
CHUNK = 64 * 1024          # bytes read (compressing) or written (decompressing) at a time


def _open_input(src):
    """(file, stat or None, display name) of an input; "-" is stdin."""
    if src == "-":
        return stdin_buffer(), None, STDIN_NAME
    st = os.stat(src)
    if stat.S_ISDIR(st.st_mode):
        raise CLIError("is a directory, skipping")
    return open(src, "rb"), st, src


def _regular(st):
    return st is not None and stat.S_ISREG(st.st_mode)


def _workers(args):
    """Worker processes for frames: -T, by default all cores."""
    return 0 if args.threads is None else args.threads


def _reader(f, args):
    """The original bytes of a compressed file: its frames decoded by
    worker processes where there are several."""
    return open_reader(f, threads=args.threads, workers=_workers(args),
                       memory_limit=args.memory_limit)


class Compress:
    """Compression of one input (-z, the default)."""

    compressed_output = True

    def __init__(self, args, fin, st, regular_output=False):
        self.args = args
        self.fin = fin
        # a regular file's size goes into the header (an empty one may be a
        # file of /proc whose size says nothing)
        self.size = st.st_size if _regular(st) and st.st_size > 0 else None
        settings = {"preset": args.preset, "threads": args.threads,
                    "block_size": args.block_size, "vocabulary": args.vocabulary,
                    "memory_limit": args.memory_limit}
        self._record = False
        if args.frame_size:
            self.comp = FrameCompressor(args.level, frame_size=args.frame_size,
                                        workers=_workers(args), content_size=self.size,
                                        **settings)
        else:
            # a regular output gets the memory the model took in its header
            self._record = regular_output and (self.size is None
                                               or self.size >= RECORD_MEMORY_MIN)
            self.comp = StateSMixCompressor(args.level, content_size=self.size,
                                            record_memory=self._record, **settings)
        self.nin = self.nout = 0
        self._bpt = 4.0           # bytes per token so far, for the progress inside a block
        self._coded = 0

    @staticmethod
    def destination(src, args):
        if args.stdout or (src == "-" and not args.output):
            return "-"
        if args.output:
            return args.output
        if src.endswith(SUFFIX) and not args.force:
            raise CLIError("already has %s suffix, skipping" % SUFFIX)
        return src + SUFFIX

    def pieces(self):
        while True:
            chunk = self.fin.read(CHUNK)
            if not chunk:
                break
            self.nin += len(chunk)
            data = self.comp.compress(chunk)
            if data:
                self.nout += len(data)
                yield data
        data = self.comp.flush()
        self.nout += len(data)
        yield data

    def final_header(self):
        """The header to write over the output's first bytes, or None."""
        return self.comp.header() if self._record else None

    def probe(self):
        """(bytes coded, total): inside a block, estimated from the tokens the
        core has coded (its stats move as it goes) and the bytes per token."""
        st = self.comp.stats()
        coded, tokens = st.get("input_bytes", 0), st.get("tokens", 0)
        if coded != self._coded and tokens:
            self._coded = coded
            self._bpt = coded / tokens
        return max(coded, min(self.nin, int(tokens * self._bpt))), self.size

    def close(self):
        """After an error or a signal: end the frames' workers."""
        if isinstance(self.comp, FrameCompressor):
            self.comp.close()

    def verify(self, path, src):
        """Decode the output at `path` and compare it with the file `src`."""
        with open(path, "rb") as fc, open(src, "rb") as fi, _reader(fc, self.args) as reader:
            while True:
                piece = reader.read(CHUNK)
                if not piece:
                    break
                if fi.read(len(piece)) != piece:
                    raise CLIError("verification failed: the output does not decode to "
                                   "the input; input kept")
            if fi.read(1):
                raise CLIError("verification failed: the output is shorter than the "
                               "input; input kept")

    def summary(self, name, sec):
        tokens = self.comp.stats().get("tokens", 0)
        ratio = "%.3f" % (self.nout / self.nin) if self.nin else "-"
        bpb = "%.3f" % (8.0 * self.nout / self.nin) if self.nin else "-"
        return ("%s: %d -> %d bytes, ratio %s, %s bpb, %.2f s, %.1f KB/s, %.0f tokens/s"
                % (name, self.nin, self.nout, ratio, bpb, sec, self.nin / sec / 1000.0,
                   tokens / sec))


class Decompress:
    """Decompression (-d) or testing (-t) of one input."""

    compressed_output = False

    def __init__(self, args, fin, st, regular_output=False):
        self.args = args
        self.reader = _reader(fin, args)
        self.nout = 0

    def final_header(self):
        return None

    def close(self):
        self.reader.close()

    @staticmethod
    def check_input(src, args):
        if src == "-" and not args.force and isatty(stdin_buffer()):
            raise CLIError("compressed data not read from a terminal (use -f to force)")

    @staticmethod
    def destination(src, args):
        if args.output:
            return args.output
        if args.stdout or src == "-":
            return "-"
        if src.endswith(SUFFIX) and len(os.path.basename(src)) > len(SUFFIX):
            return src[:-len(SUFFIX)]
        raise CLIError("unknown suffix, skipping (use -c or -o to decompress it)")

    def pieces(self):
        while True:
            piece = self.reader.read(CHUNK)
            if not piece:
                return
            self.nout += len(piece)
            yield piece

    def probe(self):
        """(bytes written, total): the total is known while the current
        stream's header records its size."""
        before = sum(s.get("output_bytes", 0) for _, s in self.reader.streams)
        header = self.reader.header
        if header is None or header.content_size is None:
            return self.nout, None
        return self.nout, before + header.content_size

    def summary(self, name, sec):
        n = len(self.reader.streams)
        return ("%s: %s%d -> %d bytes, %d stream%s, %.2f s, %.1f KB/s"
                % (name, "OK, " if self.args.mode == "test" else "",
                   self.reader.compressed_read, self.nout, n, "" if n == 1 else "s", sec,
                   self.nout / sec / 1000.0))


def process(src, args, con):
    """Compress, decompress or test one input (a path or "-")."""
    job_class = Compress if args.mode == "compress" else Decompress
    if job_class is Decompress:
        Decompress.check_input(src, args)
    dest = None if args.mode == "test" else job_class.destination(src, args)
    fin, st, name = _open_input(src)
    remove = False
    job = None
    try:
        job = job_class(args, fin, st, dest is not None and Output.is_regular(dest))
        out = None if dest is None else Output(dest, args.force, src if st else None, st,
                                               compressed=job.compressed_output)
        progress = Progress(name, con.progress_wanted(), job.probe)
        try:
            t0 = time.monotonic()
            for piece in job.pieces():
                if out is not None:
                    out.write(piece)
            head = job.final_header()
            if out is not None and out.regular and head:
                out.rewrite_start(head)
            elapsed = max(time.monotonic() - t0, 1e-9)
            progress.close()
            if out is not None:
                remove = args.rm and out.regular and _regular(st)
                out.finish(sync=remove)
                if remove and job_class is Compress:
                    job.verify(out.tmp, src)
                out.commit()
        except BaseException:
            progress.close()
            if out is not None:
                out.abort()
            raise
    finally:
        if job is not None:
            job.close()
        if src != "-":
            fin.close()
    if job_class is Decompress and job.reader.index_damaged:
        con.warn(name, "frame index damaged, ignored (the streams before it were verified)")
    elif job_class is Decompress and job.reader.trailing:
        con.warn(name, "data after the last stream ignored (not a statesmix stream)")
    if args.rm and dest is not None:
        if remove:
            os.unlink(src)
        else:
            con.warn(name, "input kept (--rm needs a regular input and output file)")
    con.info(job.summary(name, elapsed))
