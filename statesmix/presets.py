"""Model presets: named model configurations, and the -1..-9 levels."""
from ._core import lib
from .errors import StateSMixError
from .units import fmt_bytes

_MiB = 1 << 20

# the component bits of the C core (statesmix.h)
COUNT, SSM, NGRAM, MIX, TREE = (lib.SSX_USE_COUNT, lib.SSX_USE_SSM, lib.SSX_USE_NGRAM,
                                lib.SSX_USE_MIX, lib.SSX_USE_TREE)
CM_V2 = lib.SSX_CM_V2
NO_SSE, NO_CLASS = lib.SSX_MIX_NO_SSE, lib.SSX_MIX_NO_CLASS
# the token-tree presets code tokens bit by bit, mixed with byte contexts
# (csrc/tree.c, cm.c); that mixing refines the top token better than the
# token model's own refinement, which they leave out
CM = COUNT | NGRAM | TREE
CM_MIX = CM | MIX | NO_SSE
# the byte mixer's second version adds contexts of what followed the last
# occurrences of the last one, two and three bytes and of the last word, of
# the byte a match expects, and a match model of 24 bytes and more
# (bench/results/cm2.md)
CM2 = CM_MIX | CM_V2
# the SSM at twice the width (64): its gain grows with the input where the
# byte mixer's and the n-grams' shrink (bench/results/growth_tries.md)
SSM_WIDE = lib.SSX_SSM_WIDE
# the SSM predicts the token tree's decisions, an input of the byte mixer,
# instead of a distribution over the live vocabulary: its work per token no
# longer grows with the vocabulary, and the decoder runs no head; the byte
# mixer's third version adds contexts of the last 1-3 tokens
# (bench/results/growth_tries.md, "The SSM's tree head")
SSM_TREE, CM_V3 = lib.SSX_SSM_TREE, lib.SSX_CM_V3
CM3 = CM2 | CM_V3 | SSM | SSM_TREE
# the byte mixer's fourth version: a match survives a changed byte (a copy
# whose numbers or indices differ here and there) and a context predicts the
# byte it expects shifted as at its last miss (bench/results/growth_tries.md,
# "Matches that survive a changed byte")
CM_V4 = lib.SSX_CM_V4
CM4 = CM3 | CM_V4

# id -> (name, components).  An id is recorded in every stream and never
# changes meaning; a new preset gets a new id.
PRESETS = {
    0: ("count", COUNT),
    1: ("ssm", COUNT | SSM),
    2: ("ngram", COUNT | NGRAM),
    3: ("paper", COUNT | SSM | NGRAM),
    4: ("plus", COUNT | SSM | NGRAM | MIX),
    5: ("ngram-plus", COUNT | NGRAM | MIX),
    6: ("cm", CM_MIX | SSM),
    7: ("fast", CM),
    8: ("light", CM_MIX | NO_CLASS),
    9: ("ngram-cm", CM_MIX),
    10: ("cm-32", CM_MIX | SSM),
    11: ("cm-2", CM_MIX | SSM),
    12: ("max", CM_MIX | SSM),
    13: ("cm2", CM2 | SSM),
    14: ("cm2-32", CM2 | SSM),
    15: ("cm2-2", CM2 | SSM),
    16: ("max2", CM2 | SSM),
    17: ("cm2-grow", CM2 | SSM),
    18: ("cm3", CM3),
    19: ("cm3-32", CM3),
    20: ("cm3-16", CM3),
    21: ("cm3-8", CM3),
    22: ("cm4", CM4),
    23: ("cm4-32", CM4),
    24: ("cm4-16", CM4),
    25: ("cm4-8", CM4),
}
# id -> SSM training that differs from model_config's defaults: shorter
# chunks (more steps, each on fewer tokens) or more steps per chunk
OVERRIDES = {
    10: {"chunk": 32},
    11: {"train_steps": 2},
    12: {"chunk": 32, "train_steps": 2},
    14: {"chunk": 32},
    15: {"train_steps": 2},
    16: {"chunk": 32, "train_steps": 2},
    # the tree head's training is cheap: shorter chunks rather than more
    # steps (enwik6, chunks of 16: 207,547 bytes against 208,033; two steps
    # 207,974; chunks of 8 and two steps 207,881)
    19: {"chunk": 32},
    20: {"chunk": 16},
    21: {"chunk": 8},
    23: {"chunk": 32},
    24: {"chunk": 16},
    25: {"chunk": 8},
}
# ids whose SSM takes the wide width from WIDE_FROM bytes of input (a
# content size the header records; streams of unknown size stay narrow):
# 8 MB of GCIDE 0.65 % smaller, 1 MB 0.32 % (enwik6 0.09 %), each for about
# a fifth more time (growth_tries.md, "The SSM's width"); with the tree head
# 8 MB of GCIDE 0.60 % and of stdlib 0.57 % smaller ("The SSM's tree head")
GROWS = {17, 18, 22}
WIDE_FROM = 2 << 20
# the ablation of the published system, in the paper's order
ABLATION = ("count", "ngram", "ssm", "paper")
BY_NAME = {name: pid for pid, (name, _) in PRESETS.items()}

# compression level -> preset id: each level at least as small as the one
# below, and slower only where smaller (bench/results/levels.md)
LEVELS = {1: 7, 2: 8, 3: 9, 4: 9, 5: 9, 6: 22, 7: 23, 8: 24, 9: 25}
DEFAULT_LEVEL = 6
# levels that take the default level's preset for inputs of WIDE_FROM bytes
# and more (a known content size): their extra SSM training (shorter
# chunks) pays at 1 MB but not at 8 MB, where the default's wider SSM does
# (growth_tries.md, "The levels above the default on long inputs" and "The
# SSM's tree head": cm3 with chunks of 16 is 0.46 % larger on 8 MB of GCIDE)
LONG_INPUT_DEFAULT = {7, 8, 9}

# What the levels' presets cost on enwik6 (bench/results/levels.md: 2
# threads on the project's 2-core AMD EPYC VM, 2026-12-04, on a host about
# three times slower than the run before): compressed bytes,
# compress and decompress seconds, peak RSS in MB.  `statesmix --help`
# shows them; tests/test_bench.py checks them against that table.
LEVEL_COSTS = {
    "fast": (219_585, 22.4, 19.6, 496),
    "light": (211_704, 31.5, 30.8, 517),
    "ngram-cm": (209_686, 57.2, 36.1, 518),
    "cm4": (208_003, 44.2, 39.3, 543),
    "cm4-32": (207_722, 54.4, 67.1, 541),
    "cm4-16": (207_484, 45.6, 46.5, 554),
    "cm4-8": (207_435, 58.5, 62.5, 555),
}


# The byte mixer's tables (2^cm_bits slots per context) grow with the input:
# about four slots per byte, between these bounds; an unknown size gets the
# size of a 1 MB input.  The second version has a third more contexts and
# two slots per byte: it keeps enwik6 under 600 MB, and costs 0.2-0.35 % at
# 1 MB against four (bench/results/cm2.md).
CM_BITS_MIN, CM_BITS_MAX, CM_BITS_UNKNOWN = 12, 23, 22


def cm_bits(content_size, v2=False):
    if content_size is None:
        return CM_BITS_UNKNOWN - v2
    bits = max(int(content_size), 1).bit_length() + 2 - v2
    return min(max(bits, CM_BITS_MIN), CM_BITS_MAX)


# The n-gram tables may hold this many bytes per byte of input (text takes
# 110-170, random bytes 660: they stop growing there, where they would not
# help), between these bounds in MiB; an unknown size gets the most.  At
# 1 GiB, 8 MB of dictionary text filled them before its end (past the limit
# nothing new is stored), so the most is 2 GiB: the tables take memory only
# as they grow, and frames bound it for larger inputs.
NGRAM_BYTES_PER_BYTE, NGRAM_MB_MIN, NGRAM_MB_MAX = 224, 8, 2048


def ngram_mem_mb(content_size):
    if content_size is None:
        return NGRAM_MB_MAX
    mb = -(-int(content_size) * NGRAM_BYTES_PER_BYTE // _MiB)
    return min(max(mb, NGRAM_MB_MIN), NGRAM_MB_MAX)


def shared_work(config):
    """Whether a model has work its threads share per token (an SSM or
    learned mixing over the live vocabulary): threads.for_model's default."""
    return bool(int(config["components"]) & (SSM | MIX))


def model_config(preset_id, vocab_size, content_size=None):
    """The full C model configuration of a preset; `content_size`, the
    input's length when known, sizes the tables that grow with it."""
    if preset_id not in PRESETS:
        raise StateSMixError("unknown preset id %d" % preset_id)
    components = PRESETS[preset_id][1]
    if preset_id in GROWS and content_size is not None and content_size >= WIDE_FROM:
        components |= SSM_WIDE
    config = {
        "components": components,
        "vocab_size": vocab_size,
        "count_scale": 0.1,
        "seed": 1,
        # the published 32; under learned mixing 64 (with one step below:
        # enwik6 225,527 bytes in 50.9 s against 224,970 in 62.7 s, measured
        # back to back with 2 threads)
        "chunk": 64 if components & MIX else 32,
        "lr": 0.002,
        # the published 0.12; under learned mixing a smoother SSM pays
        # (enwik6: 235,538 bytes against 235,824)
        "label_smooth": 0.2 if components & MIX else 0.12,
        "ngram_mem_mb": ngram_mem_mb(content_size),
        # Adam steps per chunk after the warm-up: the published 2; under
        # learned mixing 1 (enwik6, chunks of 32: 224,966 bytes in 54.7 s
        # against 224,504 in 75.4 s, 2 threads)
        "train_steps": 1 if components & MIX else 2,
        "cm_bits": cm_bits(content_size, bool(components & CM_V2)),
    }
    config.update(OVERRIDES.get(preset_id, {}))
    return config


def resolve(level=None, preset=None, content_size=None):
    """Preset id from a level (1-9) or a preset name or id; the default
    otherwise.  `content_size`, the input's length when known, may change
    a level's preset (LONG_INPUT_DEFAULT), never a named one.  TypeError for
    a wrong type, ValueError for an unknown value (as bz2 for its levels)."""
    if preset is not None:
        if isinstance(preset, str):
            if preset not in BY_NAME:
                raise ValueError("unknown preset %r (known: %s)"
                                 % (preset, ", ".join(sorted(BY_NAME))))
            return BY_NAME[preset]
        if not isinstance(preset, int) or isinstance(preset, bool):
            raise TypeError("preset must be a name or an id, not %s" % type(preset).__name__)
        if preset not in PRESETS:
            raise ValueError("unknown preset id %r" % (preset,))
        return preset
    if level is None:
        level = DEFAULT_LEVEL
    if not isinstance(level, int) or isinstance(level, bool):
        raise TypeError("level must be an integer from 1 to 9, not %s" % type(level).__name__)
    if level not in LEVELS:
        raise ValueError("level must be an integer from 1 to 9, not %r" % (level,))
    if level in LONG_INPUT_DEFAULT and content_size is not None and content_size >= WIDE_FROM:
        level = DEFAULT_LEVEL
    return LEVELS[level]


def preset_name(preset_id):
    return PRESETS[preset_id][0] if preset_id in PRESETS else "unknown(%d)" % preset_id


# ---------------------------------------------------------------- memory

# What a process running one stream holds besides the model: the
# interpreter, numpy, tokenizers and the loaded vocabulary.  Loading the
# vocabulary peaks higher than what stays (measured on AMD machines: a peak
# of 89-99 MiB, 73 MiB after), and the model's first allocations reuse what
# loading freed: the process peaks at the larger of the two.
_LOAD_PEAK = 102 * _MiB
_BASE_MEMORY = 82 * _MiB
# Python's bytes per byte of a block: input, tokens and output when
# decompressing; compressing adds the tokenizer's encodings of the block.
_BLOCK_MEMORY = 16
_TOKENIZE_MEMORY = 64


def memory_estimate(config, block_size, content_size=None, compressing=False,
                    model_memory=None):
    """An upper bound, in bytes, of the peak memory of a process coding one
    stream of this configuration: the model's (`model_memory`, what the
    encoder measured and the header records; else the C core's bound,
    ssx_memory_estimate: every table at the size its configuration allows,
    the live vocabulary at most the content size), 16 bytes per byte of a
    block on the Python side (input, tokens, output; 64 when `compressing`,
    for the tokenizer's encodings) and the process's base, or the peak of
    loading the vocabulary where that is larger (docs/format.md, "Memory").
    A stream's header states the decompressing estimate."""
    from .core import memory_bound
    n = -1 if content_size is None else int(content_size)
    block = int(block_size) if n < 0 else min(int(block_size), max(n, 1))
    per_byte = _TOKENIZE_MEMORY if compressing else _BLOCK_MEMORY
    model = int(model_memory) if model_memory else memory_bound(config, n, block)
    return max(_LOAD_PEAK, _BASE_MEMORY + model + per_byte * block)


# A stream of at least this many bytes (or of unknown size) records the
# model's memory in its header where its writer can fill it in: below it
# the configuration's bound is about as low, and the header stays compact.
RECORD_MEMORY_MIN = 64 << 10


def stream_config(header, vocab_size):
    """The model configuration a stream header names: its own, or its
    preset's for the vocabulary's size and the content size."""
    if header.config is not None:
        return header.config
    try:
        return model_config(header.preset, vocab_size, header.content_size)
    except StateSMixError:
        raise StateSMixError("unknown preset id %d (a newer format?)" % header.preset) from None


def stream_memory(header, config):
    """What decoding a stream with this header needs (memory_estimate with
    the model memory it records, if any)."""
    return memory_estimate(config, header.block_size, header.content_size,
                           model_memory=header.memory)


def fit_memory(config, block_size, limit, content_size=None):
    """`config` with the tables that grow with the input made smaller until
    compressing fits in `limit` bytes, as xz lowers its dictionary to fit its
    memory limit: each time the one whose step saves more, the byte mixer's
    (one bit less, to CM_BITS_MIN) or the n-gram tables' budget (halved, to
    NGRAM_MB_MIN).  The same configuration when it fits already; what cannot
    fit, check_memory refuses."""
    def need(c):
        return memory_estimate(c, block_size, content_size, compressing=True)

    cfg = dict(config)
    if limit is None:
        return cfg
    comp = int(cfg["components"])
    have = need(cfg)
    while have > limit:
        steps = []
        if comp & TREE and cfg["cm_bits"] > CM_BITS_MIN:
            steps.append(dict(cfg, cm_bits=cfg["cm_bits"] - 1))
        if comp & NGRAM and cfg["ngram_mem_mb"] > NGRAM_MB_MIN:
            steps.append(dict(cfg, ngram_mem_mb=max(cfg["ngram_mem_mb"] // 2, NGRAM_MB_MIN)))
        if not steps:
            break
        have, cfg = min(((need(c), c) for c in steps), key=lambda step: step[0])
    return cfg


def check_memory(config, block_size, limit, what, content_size=None, compressing=False,
                 model_memory=None):
    """Raise StateSMixError when memory_estimate() exceeds `limit` bytes
    (None: no limit)."""
    if limit is None:
        return
    need = memory_estimate(config, block_size, content_size, compressing, model_memory)
    if need > limit:
        raise StateSMixError(
            "%s needs up to %s of memory (model %s, vocabulary of %d tokens, "
            "block size %d), over the memory limit of %s"
            % (what, fmt_bytes(need), "+".join(n for n, bit in
                                              (("count", COUNT), ("ssm", SSM),
                                               ("ngram", NGRAM))
                                              if int(config["components"]) & bit),
               int(config["vocab_size"]), int(block_size), fmt_bytes(limit)))
