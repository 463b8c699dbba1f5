"""Model presets: named model configurations, and the -1..-9 levels."""
from .errors import StateSMixError

COUNT, SSM, NGRAM = 1, 2, 4

# id -> (name, components).  An id is recorded in every stream and never
# changes meaning; a new preset gets a new id.
PRESETS = {
    0: ("count", COUNT),
    1: ("ssm", COUNT | SSM),
    2: ("ngram", COUNT | NGRAM),
    3: ("paper", COUNT | SSM | NGRAM),
}
# the ablation of the published system, in the paper's order
ABLATION = ("count", "ngram", "ssm", "paper")
BY_NAME = {name: pid for pid, (name, _) in PRESETS.items()}

# compression level -> preset id
LEVELS = {1: 0, 2: 2, 3: 1, 4: 3, 5: 3, 6: 3, 7: 3, 8: 3, 9: 3}
DEFAULT_LEVEL = 6


def model_config(preset_id, vocab_size):
    """The full C model configuration of a preset."""
    if preset_id not in PRESETS:
        raise StateSMixError("unknown preset id %d" % preset_id)
    return {
        "components": PRESETS[preset_id][1],
        "vocab_size": vocab_size,
        "count_scale": 0.1,
        "seed": 1,
        "chunk": 32,
        "lr": 0.002,
        "label_smooth": 0.12,
        "ngram_mem_mb": 1024,
    }


def resolve(level=None, preset=None):
    """Preset id from a level (1-9) or a preset name; the default otherwise."""
    if preset is not None:
        if isinstance(preset, str):
            if preset not in BY_NAME:
                raise StateSMixError("unknown preset %r (known: %s)"
                                     % (preset, ", ".join(sorted(BY_NAME))))
            return BY_NAME[preset]
        if preset not in PRESETS:
            raise StateSMixError("unknown preset id %r" % (preset,))
        return preset
    if level is None:
        level = DEFAULT_LEVEL
    if not isinstance(level, int) or level not in LEVELS:
        raise StateSMixError("level must be an integer from 1 to 9, not %r" % (level,))
    return LEVELS[level]


def preset_name(preset_id):
    return PRESETS[preset_id][0] if preset_id in PRESETS else "unknown(%d)" % preset_id
