"""The memory estimate of a stream's header (presets.memory_estimate, from
the C core's ssx_memory_estimate) bounds the peak memory of the process
that codes it, and is not far above it: for every preset, compressing and
decompressing a 5 KB input stays under the estimate and the estimate stays
under 1.5 times the measured peak.  (bench/results/memory.md has the same
check on enwik6.)  A header that records the model's memory (FLAG_MEMORY)
lowers the decoder's estimate to it and binds the decoder to it."""
import dataclasses
import os
import subprocess
import sys

import pytest

import statesmix
from statesmix import presets
from statesmix import StateSMixError
from statesmix.container import parse_header
from statesmix.tokenizer import default_vocabulary_id, get_vocabulary

from textgen import make_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The child reports its own high-water mark from /proc: ru_maxrss would also
# count the forked parent's pages from before the exec.
_CHILD = """
import sys, statesmix
data = open(sys.argv[1], "rb").read()
out = (statesmix.compress(data, preset=sys.argv[2], threads=1) if sys.argv[3] == "c"
       else statesmix.decompress(data, threads=1))
with open("/proc/self/status") as f:
    print([int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:")][0])
"""


def _peak(path, preset, mode):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", _CHILD, path, preset, mode], env=env,
                       capture_output=True, text=True, check=True)
    return int(r.stdout.split()[-1])


@pytest.mark.skipif(sys.platform != "linux", reason="peak RSS as Linux reports it")
@pytest.mark.parametrize("preset", sorted(presets.BY_NAME))
def test_estimate_bounds_the_peak_of_a_small_input(preset, tmp_path):
    data = make_text(5000, 2)
    raw = tmp_path / "in"
    raw.write_bytes(data)
    packed = tmp_path / "in.ssx"
    packed.write_bytes(statesmix.compress(data, preset=preset, threads=1))
    header, _ = parse_header(packed.read_bytes(), 0)
    vocab = get_vocabulary(default_vocabulary_id())
    config = header.config or presets.model_config(header.preset, vocab.size,
                                                   header.content_size)
    # (a 5 KB stream records no model memory: under presets.RECORD_MEMORY_MIN)
    for path, mode in ((raw, "c"), (packed, "d")):
        # compressing: the configuration's bound; decompressing: the header's
        estimate = presets.memory_estimate(config, header.block_size, header.content_size,
                                           compressing=mode == "c",
                                           model_memory=header.memory if mode == "d" else None)
        peak = _peak(str(path), preset, mode)
        assert peak <= estimate <= 1.5 * peak, (mode, peak, estimate)


def test_tables_grow_with_the_content_size():
    small = presets.model_config(presets.BY_NAME["cm"], 1000, 5000)
    big = presets.model_config(presets.BY_NAME["cm"], 1000, 8 << 20)
    unknown = presets.model_config(presets.BY_NAME["cm"], 1000, None)
    assert small["cm_bits"] < unknown["cm_bits"] <= big["cm_bits"]
    assert small["ngram_mem_mb"] < big["ngram_mem_mb"] <= unknown["ngram_mem_mb"]
    assert presets.memory_estimate(small, 1 << 20, 5000) < \
        presets.memory_estimate(big, 1 << 20, 8 << 20)


def _with_memory(blob, memory):
    header, pos = parse_header(blob, 0)
    return dataclasses.replace(header, memory=memory).pack() + blob[pos:]


def test_recorded_memory_is_what_the_model_took_and_lowers_the_estimate():
    data = make_text(70000, 3)
    blob = statesmix.compress(data, preset="plus", threads=1)
    header, _ = parse_header(blob, 0)
    config = presets.model_config(header.preset, get_vocabulary(header.vocab_id).size,
                                  header.content_size)
    measured = presets.memory_estimate(config, header.block_size, header.content_size,
                                       model_memory=header.memory)
    bound = presets.memory_estimate(config, header.block_size, header.content_size)
    assert 0 < header.memory and measured < bound
    # a limit between the two: the stream that records its memory decodes,
    # the same stream without the record is refused
    assert statesmix.decompress(blob, memory_limit=measured) == data
    with pytest.raises(StateSMixError, match="memory limit"):
        statesmix.decompress(_with_memory(blob, None), memory_limit=measured)
    # the streaming compressor reserves the field and fills it in afterwards
    c = statesmix.StateSMixCompressor(preset="plus", threads=1, content_size=len(data),
                                      record_memory=True)
    body = c.compress(data) + c.flush()
    assert parse_header(body, 0)[0].memory is None      # reserved: 0 reads as unknown
    assert c.header() + body[len(c.header()):] == blob


def test_a_model_that_outgrows_its_recorded_memory_is_refused():
    data = make_text(70000, 4)
    blob = statesmix.compress(data, preset="plus", threads=1)
    memory = parse_header(blob, 0)[0].memory
    assert statesmix.decompress(_with_memory(blob, memory)) == data
    with pytest.raises(StateSMixError, match="more memory than its header records"):
        statesmix.decompress(_with_memory(blob, memory // 2))
