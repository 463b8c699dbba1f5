"""Benchmark harness: statesmix against standard compressors on enwik8 prefixes.

Run ``python -m bench --help`` from the repository root; bench/README.md
explains what is measured and how to read the results.

Every entry (one compressor setting on one slice) runs in its own child
process (``python -m bench --_worker SPEC RESULT``) so that its peak RSS can
be read from ``os.wait4``; the child compresses, decompresses and compares
the round trip byte for byte.  The parent imports nothing heavy (numpy, the
C extension): a child's ru_maxrss starts at what its parent had at fork.

The parts: cli (arguments, one run), enwik8 (the input and its slices),
plan (the entries), runner (child processes, progress, resuming), worker
(the child), machine (what the results record of the machine and the code),
report (tables), plots, util.
"""
from .cli import main

__all__ = ["main"]
