"""Helpers every part of the benchmark shares."""
import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

from statesmix.units import fmt_bytes

# the fields of a statesmix entry's bits-per-token progression
PROGRESSION_FIELDS = ["input_bytes", "tokens", "ideal_bits", "payload_bytes", "live"]


class BenchError(Exception):
    """A failure reported as one line, exit status 2."""


def stderr(line, end="\n"):
    sys.stderr.write(line + end)
    sys.stderr.flush()


def fmt_size(n):
    """A slice size: slices are decimal (1e6 bytes is 1 MB)."""
    return fmt_bytes(n, si=True)


def fmt_time(sec):
    if sec is None:
        return "?"
    sec = int(round(sec))
    if sec < 60:
        return "%ds" % sec
    if sec < 3600:
        return "%dm%02ds" % divmod(sec, 60)
    h, rest = divmod(sec, 3600)
    return "%dh%02dm" % (h, rest // 60)


def split_list(text):
    return [x.strip() for x in text.split(",") if x.strip()]


def write_json(path, obj):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def rss_mb(ru_maxrss):
    # Linux reports kilobytes, macOS bytes.
    div = 1 << 20 if sys.platform == "darwin" else 1 << 10
    return ru_maxrss / div


def have_module(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def sha256_file(path):
    """The SHA-256 of a file, read in pieces of 1 MiB."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
