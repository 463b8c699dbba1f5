"""How many threads a model uses, and how they wait for each other.

The model's OpenMP threads meet several times per token.  libgomp's waiting
threads spin up to 300,000 pause instructions (milliseconds) before they
sleep, so beside any other busy process a waiting thread keeps the core
that the thread it waits for needs, and a run becomes 8-25x slower.  Unless
the user chose a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT), statesmix sets
GOMP_SPINCOUNT: a waiting thread spins SPIN_COUNT times (some microseconds),
then sleeps.  libgomp reads it once, when the C extension loads it, so
statesmix/__init__.py calls prepare_openmp() before anything can load it,
and core.py takes the variable out again once the extension is loaded
(programs the user starts keep the user's environment).  Without effect
where libgomp was loaded before (by another extension).

Only the import of os here: the package's __init__ imports this module.
"""
import os

# Measured with one busy process per core (bench/results/threads.md): 1,000
# spins lose nothing measurable on a quiet machine and keep a 2-thread run
# within 1.5x of its quiet time beside the busy processes.
SPIN_COUNT = 1000

# Below this many input bytes a model uses one thread unless told otherwise:
# each token's few microseconds of parallel work do not pay for the threads'
# meetings on a small live vocabulary.  Measured with the default preset on
# 2 cores: two threads gain nothing on 100 KB and 25-30 % on 300 KB
# (bench/results/threads.md).
PARALLEL_MIN_SIZE = 256 << 10


_SPIN_VAR = "GOMP_SPINCOUNT"
_set_by_us = False


def prepare_openmp():
    """Set the spin count for OpenMP's waiting threads, unless a policy was
    chosen by the user."""
    global _set_by_us
    if "OMP_WAIT_POLICY" not in os.environ and _SPIN_VAR not in os.environ:
        os.environ[_SPIN_VAR] = str(SPIN_COUNT)
        _set_by_us = True


def openmp_loaded():
    """libgomp has read its environment: take our setting out of it."""
    global _set_by_us
    if _set_by_us and os.environ.get(_SPIN_VAR) == str(SPIN_COUNT):
        del os.environ[_SPIN_VAR]
    _set_by_us = False


def cores():
    """The cores this process may run on (its CPU affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def for_model(threads, size, shared_work=True):
    """The threads of one model: `threads` as options.check_threads passes
    it (None: the default; 0: all cores; N: N, at most the cores); the
    default is one thread for an input of unknown size or below
    PARALLEL_MIN_SIZE bytes, or for a model without work its threads share
    (`shared_work`: an SSM or learned mixing over the live vocabulary; the
    n-gram presets without them, e.g. level 1, took 226.8 s with two
    threads and 185.8 s with one on 8 MB), all cores above."""
    if threads is None:
        threads = 0 if shared_work and size is not None and size >= PARALLEL_MIN_SIZE else 1
    n = cores()
    return n if threads == 0 else min(threads, n)


def for_workers(workers):
    """Worker processes for frames: `workers` as options.check_threads
    passes it (None: none, the frames are coded in this process; 0: all
    cores; N: N, at most the cores).  A library starts processes only when
    asked to; each worker's model uses one thread, so that threads times
    processes never exceed the cores."""
    if workers is None:
        return 1
    n = cores()
    return n if workers == 0 else min(workers, n)
