"""Where a result goes: standard output, a device written in place, or a
regular file written through a temporary file that is renamed into place
only when complete, so an error, a full disk or a signal never leaves a
partial output and never touches an existing one."""
import os
import stat
import sys
import tempfile

from .console import CLIError, isatty

def stdin_buffer():
    """Standard input as a binary file; CLIError when it is closed."""
    if sys.stdin is None:
        raise CLIError("standard input is closed")
    return getattr(sys.stdin, "buffer", sys.stdin)


def stdout_buffer():
    """Standard output as a binary file; CLIError when it is closed."""
    if sys.stdout is None:
        raise CLIError("standard output is closed")
    return getattr(sys.stdout, "buffer", sys.stdout)


class Output:
    """One result's destination: "-" (standard output) or a path.  write(),
    then finish() and commit(); abort() on any failure."""

    def __init__(self, dest, force, src_path=None, src_stat=None, compressed=False):
        self.dest = dest
        self.force = force
        self.src_stat = src_stat
        self.tmp = None
        self.f = None
        self.regular = False
        if dest == "-":
            self.f = stdout_buffer()
            if compressed and not force and isatty(self.f):
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

    @staticmethod
    def is_regular(dest):
        """Whether Output(dest) writes a regular file (a temporary one, then
        renamed), which rewrite_start() can change."""
        if dest == "-":
            return False
        try:
            return stat.S_ISREG(os.stat(dest).st_mode)
        except FileNotFoundError:
            return True

    def write(self, data):
        self.f.write(data)

    def rewrite_start(self, data):
        """Write `data` over the first bytes written (a regular file only)."""
        end = self.f.tell()
        self.f.seek(0)
        self.f.write(data)
        self.f.seek(end)

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


def silence_stdout():
    """Point standard output at /dev/null: after its reader went away,
    nothing written later (not even the interpreter's flush at exit) fails."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass
