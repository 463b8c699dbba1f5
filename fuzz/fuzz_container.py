"""atheris harness for the container and the whole decoder (Python side).

Every input goes through statesmix.decompress() and through a
StateSMixDecompressor fed in two pieces with a small max_length.  An input of
odd length first gets its (first) stream header's checksum recomputed
(container.repair_header_check), so that mutated header fields and model
configurations reach the decoder instead of all failing the header check.  Any
exception other than StateSMixError is a crash; so is a decompressor that
claims success for data decompress() refused.

Run:  PYTHONPATH=. python3 fuzz/fuzz_container.py fuzz/work/container \
          fuzz/corpus/container -runs=100000      (or: make fuzz)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["statesmix"]):
    import statesmix
    from statesmix import StateSMixDecompressor, StateSMixError
    from statesmix.container import repair_header_check


def fix_header_check(data):
    """The input with a correct header checksum (odd lengths only)."""
    return repair_header_check(data) if len(data) & 1 else data


def one_shot(data):
    try:
        return statesmix.decompress(data, threads=1)
    except StateSMixError:
        return None


def incremental(data, cut):
    d = StateSMixDecompressor(threads=1)
    out = []
    try:
        out.append(d.decompress(data[:cut], max_length=97))
        while not d.eof and not d.needs_input:
            out.append(d.decompress(b"", max_length=97))
        if not d.eof:
            out.append(d.decompress(data[cut:]))
            while not d.eof and not d.needs_input:
                out.append(d.decompress(b""))
    except StateSMixError:
        return None
    return b"".join(out) if d.eof else None, d.unused_data if d.eof else None


def TestOneInput(data):
    data = fix_header_check(data)
    whole = one_shot(data)
    cut = data[0] % (len(data) + 1) if data else 0
    r = incremental(data, cut)
    if whole is not None:
        # decompress() accepted: the first stream decodes the same incrementally
        assert r is not None and r[0] is not None and whole.startswith(r[0]), \
            "incremental decoder disagrees with decompress()"
        if not r[1]:
            assert whole == r[0]


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
