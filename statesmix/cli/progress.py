"""The -v progress line: bar, percentage, rate and ETA on standard error."""
import sys
import threading
import time

from ..units import fmt_bytes


def _fmt_eta(sec):
    if sec is None or sec != sec or sec > 360000:
        return "--:--"
    sec = int(sec + 0.5)
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return "%d:%02d:%02d" % (h, m, s) if h else "%d:%02d" % (m, s)


class Progress:
    """A one-line progress indicator: bar, percentage, rate and ETA when the
    total is known, bytes done and rate otherwise.

    A background thread asks `probe()` for (bytes done, total or None) and
    redraws at most 4 times a second, starting after half a second (so
    short jobs draw nothing).  The main thread keeps the work and the
    signals; the core releases the GIL while it codes, so the line keeps
    moving."""

    FIRST = 0.5
    EVERY = 0.25

    def __init__(self, label, enabled, probe):
        self.label = label if len(label) <= 32 else "..." + label[-29:]
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
                self._draw(*self.probe())
            except Exception:
                return
            if self._stop.wait(self.EVERY):
                return

    def _draw(self, done, total):
        elapsed = time.monotonic() - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        if total and done <= total:
            frac = done / total
            eta = (total - done) / rate if rate > 0 else None
            line = "%s [%-24s] %5.1f%% %9.1f KB/s  ETA %s" % (
                self.label, "#" * int(frac * 24), 100.0 * frac, rate / 1000.0, _fmt_eta(eta))
        else:
            line = "%s %s %9.1f KB/s  %s" % (self.label, fmt_bytes(done), rate / 1000.0,
                                             _fmt_eta(elapsed))
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
            except (AttributeError, OSError, ValueError):
                pass
            self.width = 0
