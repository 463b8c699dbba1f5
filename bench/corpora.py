"""Long inputs outside the vocabulary corpus, for growth with the data:
the GCIDE dictionary (Debian's dict-gcide) and a tar of Python's standard
library in sorted order.  Each is made once into the cache directory; the
benchmark runs on prefixes of it (--sizes)."""
import gzip
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

from .util import BenchError, stderr

GCIDE = Path("/usr/share/dictd/gcide.dict.dz")  # gzip-compatible, 39,952,321 bytes inside
CORPORA = ("gcide", "stdlib")


def _gcide(dest):
    if not GCIDE.is_file():
        raise BenchError("%s is missing: apt-get install dict-gcide" % GCIDE)
    with gzip.open(GCIDE, "rb") as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


def _stdlib(dest):
    lib = sysconfig.get_paths()["stdlib"]
    with open(dest, "wb") as out:
        r = subprocess.run(["tar", "--sort=name", "-cf", "-", "-C", lib, "."], stdout=out,
                           stderr=subprocess.DEVNULL)
    # tar reports files that change while read (caches) but still writes the rest
    if r.returncode not in (0, 1) or os.path.getsize(dest) == 0:
        raise BenchError("tar of %s failed (status %d)" % (lib, r.returncode))


def corpus_path(name, cache_dir):
    """The corpus file, made in cache_dir on first use."""
    make = {"gcide": _gcide, "stdlib": _stdlib}.get(name)
    if make is None:
        raise BenchError("unknown corpus %r (known: %s)" % (name, ", ".join(CORPORA)))
    dest = Path(cache_dir) / ("%s.corpus" % name)
    if not dest.is_file():
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        part = dest.with_suffix(".part")
        stderr("bench: making %s" % dest)
        make(part)
        os.replace(part, dest)
    return dest
