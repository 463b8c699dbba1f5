"""cffi (API mode) builder for the C core in csrc/.  setuptools runs it through
`cffi_modules` at `pip install .`; the extension is `statesmix._core`.

Flags: C11, -O2, no fast-math and no -march: the package must produce the
same bits on every x86-64 machine.  FP contraction is off so the compiler never
fuses a multiply and an add on its own; the kernels use explicit FMAs.
OpenMP is used when the compiler supports it.
"""
import os
import re
import subprocess
import sys
import tempfile

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(os.path.dirname(HERE), "csrc")
SOURCES = sorted(
    os.path.join("csrc", f) for f in os.listdir(CSRC) if f.endswith(".c")
)
BASE_FLAGS = ["-std=c11", "-O3", "-ffp-contract=off", "-fno-strict-aliasing",
              "-Wall", "-Wextra"]


def _compiler():
    return os.environ.get("CC", "cc")


def _has_openmp():
    if os.environ.get("STATESMIX_NO_OPENMP"):
        return False
    src = "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "t.c")
        with open(c, "w") as f:
            f.write(src)
        try:
            r = subprocess.run([_compiler(), "-fopenmp", c, "-o", os.path.join(d, "t")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            return False
        return r.returncode == 0


# The public header, then the internal test entry points (tests/ only).
HEADERS = ("statesmix.h", "testhooks.h")


def _cdef():
    """The headers, without their preprocessor lines, are the cdef; their
    numeric #defines become constants of the module."""
    out = []
    for name in HEADERS:
        with open(os.path.join(CSRC, name)) as f:
            for line in f:
                m = re.match(r"#define (SSX_\w+) \(?(-?\d+)\)?", line)
                if m:
                    out.append("#define %s %s\n" % m.groups())
                elif not line.startswith("#"):
                    out.append(line)
    return "".join(out)


_omp = _has_openmp()
_sanitize = bool(os.environ.get("STATESMIX_SANITIZE"))
# without OpenMP its pragmas are ignored, by design: no warning for them
_flags = BASE_FLAGS + (["-fopenmp"] if _omp else ["-Wno-unknown-pragmas"])
_link = ["-fopenmp"] if _omp else []
if _sanitize:
    _flags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1"]
    _link += ["-fsanitize=address,undefined"]


def make_builder(root=None):
    """The FFI builder; `root` makes the paths absolute for in-place builds."""
    pre = (lambda p: os.path.join(root, p)) if root else (lambda p: p)
    ffi = FFI()
    ffi.cdef(_cdef())
    ffi.set_source("statesmix._core", "".join('#include "%s"\n' % h for h in HEADERS),
                   sources=[pre(s) for s in SOURCES], include_dirs=[pre("csrc")],
                   extra_compile_args=_flags, extra_link_args=_link, libraries=["m"])
    return ffi


ffibuilder = make_builder()

if __name__ == "__main__":
    # Development build in place: python statesmix/_build.py
    import shutil
    root = os.path.dirname(HERE)
    out = make_builder(root).compile(tmpdir=os.path.join(root, "build", "cffi"))
    # replace atomically: running processes keep the old mapping intact
    dest = os.path.join(HERE, os.path.basename(out))
    shutil.copy(out, dest + ".tmp")
    os.replace(dest + ".tmp", dest)
    sys.exit(0)
