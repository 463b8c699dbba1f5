"""Signals end a run cleanly: the handler raises Stop in the main thread,
between two steps of the core (a fraction of a second apart), and the
drivers' cleanup removes the temporary output on the way out."""
import contextlib
import signal
import threading

_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


class Stop(BaseException):
    """Ends the whole run: a signal, or a closed output pipe (SIGPIPE)."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum

    @property
    def status(self):
        """The exit status of a process the signal ended, as the shell shows it."""
        return 128 + self.signum

    @property
    def name(self):
        return signal.Signals(self.signum).name


@contextlib.contextmanager
def stop_on_signals():
    """Within this context SIGINT, SIGTERM and SIGHUP raise Stop.  Only the
    first one does: later ones are ignored, so the cleanup it starts runs to
    the end.  Outside the main thread signals cannot be caught: nothing
    changes there."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, frame):
        if not fired:
            fired.append(signum)
            raise Stop(signum)

    old = {}
    try:
        for name in _SIGNALS:
            sig = getattr(signal, name, None)
            if sig is not None:
                old[sig] = signal.signal(sig, handler)
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
