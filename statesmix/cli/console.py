"""Messages of the command line tool: one line each, on standard error."""
import signal
import sys

from ..errors import StateSMixError
from .signals import Stop

STDIN_NAME = "(stdin)"


class CLIError(Exception):
    """A failure with a message meant for the user, about one file."""


def stderr_line(line):
    """Write one line to standard error; a closed or broken stderr is ignored."""
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass


def isatty(f):
    try:
        return f.isatty()
    except (AttributeError, OSError, ValueError):
        return False


class Console:
    """Errors (unless -qq), warnings (unless -q) and -v information."""

    def __init__(self, verbose=0, quiet=0):
        self.verbose = verbose
        self.quiet = quiet

    def error(self, name, msg):
        if self.quiet < 2:
            msg = " ".join(str(msg).split()) or "unknown error"
            stderr_line("statesmix: %s: %s" % (name, msg))

    def warn(self, name, msg):
        if self.quiet < 1:
            stderr_line("statesmix: %s: %s" % (name, msg))

    def info(self, line):
        if self.verbose and self.quiet < 1:
            stderr_line(line)

    def progress_wanted(self):
        """A progress bar with -v on a terminal, with -vv always; never with -q."""
        if not self.verbose or self.quiet:
            return False
        return self.verbose >= 2 or isatty(sys.stderr)

    def guard(self, name, fn):
        """Run fn() for one file: 0 on success, 1 after one error line.  A
        closed output pipe ends the whole run, as SIGPIPE would (no message)."""
        try:
            fn()
            return 0
        except (CLIError, StateSMixError) as e:
            self.error(name, e)
        except BrokenPipeError:
            raise Stop(signal.SIGPIPE) from None
        except OSError as e:
            self.error(name, e.strerror or e)
        except MemoryError:
            self.error(name, "out of memory")
        except Exception as e:  # a bug; still one line, and on to the next file
            self.error(name, "internal error: %s: %s" % (type(e).__name__, e))
        return 1
