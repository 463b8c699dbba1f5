"""The input: enwik8 (downloaded and verified, or a prefix given) and the
slices of it to run."""
import hashlib
import os
import sys
import time
from pathlib import Path

from .util import BenchError, fmt_size, stderr

ENWIK8_URL = "http://mattmahoney.net/dc/enwik8.zip"
ENWIK8_SIZE = 100_000_000
ENWIK8_MD5 = "a1fa5ffddb56f4953e226637dabbb36a"
ENWIK8_SHA256 = "2b49720ec4d78c3c9fabaee6e4179a5e997302b3a70029f30f2d582218c024a8"

DEFAULT_SIZES = (1_000_000, 3_000_000)


def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "statesmix"


def _hashes(path):
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            buf = f.read(1 << 22)
            if not buf:
                break
            md5.update(buf)
            sha.update(buf)
    return md5.hexdigest(), sha.hexdigest()


def _verify_enwik8(path):
    md5, sha = _hashes(path)
    return md5 == ENWIK8_MD5 and sha == ENWIK8_SHA256, md5, sha


def fetch_enwik8(cache_dir, url=ENWIK8_URL, quiet=False):
    """Path of a verified enwik8 in cache_dir, downloading it if needed."""
    import urllib.error
    import urllib.request
    import zipfile

    cache_dir = Path(cache_dir)
    dest = cache_dir / "enwik8"
    if dest.is_file():
        ok, _, _ = _verify_enwik8(dest)
        if ok:
            return dest
        stderr("bench: cached %s fails its checksum; downloading it again" % dest)
        dest.unlink()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError("cannot create cache directory %s: %s" % (cache_dir, e)) from None
    zpart = cache_dir / "enwik8.zip.part"
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(zpart, "wb") as f:
            total = int(resp.headers.get("Content-Length") or 0)
            done, last = 0, 0.0
            while True:
                buf = resp.read(1 << 20)
                if not buf:
                    break
                f.write(buf)
                done += len(buf)
                now = time.monotonic()
                if not quiet and sys.stderr.isatty() and now - last > 0.5:
                    last = now
                    pct = " (%d%%)" % (100 * done // total) if total else ""
                    stderr("\rdownloading %s: %.1f MB%s" % (url, done / 1e6, pct), end="")
        if not quiet and sys.stderr.isatty():
            stderr("")
    except (urllib.error.URLError, OSError, ValueError) as e:
        zpart.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise BenchError("cannot download %s: %s" % (url, reason)) from None
    part = cache_dir / "enwik8.part"
    try:
        with zipfile.ZipFile(zpart) as z, z.open("enwik8") as src, open(part, "wb") as dst:
            while True:
                buf = src.read(1 << 22)
                if not buf:
                    break
                dst.write(buf)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        part.unlink(missing_ok=True)
        raise BenchError("cannot unpack enwik8 from %s (%s): %s" % (url, zpart, e)) from None
    ok, md5, sha = _verify_enwik8(part)
    if not ok:
        part.unlink(missing_ok=True)
        zpart.unlink(missing_ok=True)
        raise BenchError("downloaded enwik8 fails verification (md5 %s, sha256 %s; "
                         "expected md5 %s, sha256 %s)" % (md5, sha, ENWIK8_MD5, ENWIK8_SHA256))
    os.replace(part, dest)
    zpart.unlink(missing_ok=True)
    return dest


def parse_sizes(text):
    """'1e6,3e6' or '100k,1M' -> sorted list of byte counts (decimal units)."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        mult = 1
        suffix = item[-1].lower()
        if suffix in "kmg" and not item[:-1].lower().endswith("e"):
            mult = {"k": 10**3, "m": 10**6, "g": 10**9}[suffix]
            item = item[:-1]
        try:
            val = float(item) * mult
        except ValueError:
            raise BenchError("bad size %r in --sizes" % item) from None
        if not (val >= 1 and val == int(val)):
            raise BenchError("bad size %r in --sizes (want a positive whole number "
                             "of bytes)" % item)
        out.append(int(val))
    if not out:
        raise BenchError("--sizes is empty")
    return sorted(set(out))


def choose_sizes(args, file_size):
    notes = []
    if args.sizes:
        sizes = parse_sizes(args.sizes)
        keep = [s for s in sizes if s <= file_size]
        for s in sizes:
            if s > file_size:
                notes.append("slice %s skipped: the input has only %s bytes"
                             % (fmt_size(s), "{:,}".format(file_size)))
        if not keep:
            raise BenchError("no slice fits the input (%s bytes)" % "{:,}".format(file_size))
        return keep, notes
    keep = [s for s in DEFAULT_SIZES if s <= file_size]
    if not keep:
        notes.append("the input (%s bytes) is smaller than every default slice; using "
                     "all of it" % "{:,}".format(file_size))
        return [file_size], notes
    for s in DEFAULT_SIZES:
        if s > file_size:
            notes.append("slice %s skipped: the input has only %s bytes"
                         % (fmt_size(s), "{:,}".format(file_size)))
    return keep, notes
