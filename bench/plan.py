"""What runs: the statesmix presets asked for and the baseline compressors,
one entry per setting and slice."""
import shutil

from .util import BenchError, have_module, split_list

PPMD_MEM = 2 << 30  # 2 GiB: well inside the PPMd limit of 2^32 - 36 bytes


# The baseline entries: (compressor, settings, kind, module, params); a
# module "cmd:NAME" is a program on the PATH instead of a Python module.
BASELINES = [
    ("xz", "-9e", "xz", "lzma", {}),
    ("bzip2", "-9", "bzip2", "bz2", {}),
    ("zstd", "-19 --long", "zstd", "zstandard", {"level": 19, "long": True}),
    ("zstd", "--ultra -22", "zstd", "zstandard", {"level": 22}),
    ("brotli", "-q 11 -w 24", "brotli", "brotli", {"quality": 11, "lgwin": 24}),
    # PPMd variant I (Ppmd8) caps the model order at 16 (higher orders are
    # silently clamped), so order 32 uses variant H (Ppmd7, up to order 64).
    ("ppmd", "var. I, order 8, 2 GiB", "ppmd", "pyppmd",
     {"variant": "I", "order": 8, "mem": PPMD_MEM}),
    ("ppmd", "var. I, order 16, 2 GiB", "ppmd", "pyppmd",
     {"variant": "I", "order": 16, "mem": PPMD_MEM}),
    ("ppmd", "var. H, order 32, 2 GiB", "ppmd", "pyppmd",
     {"variant": "H", "order": 32, "mem": PPMD_MEM}),
    # Debian's zpaq (7.15): its strongest built-in method, a context mixer
    ("zpaq", "-m5", "zpaq", "cmd:zpaq", {"method": 5}),
]
COMPRESSORS = ("statesmix", "xz", "bzip2", "zstd", "brotli", "ppmd", "zpaq")


def _available(module):
    if module.startswith("cmd:"):
        return shutil.which(module[4:]) is not None
    return have_module(module)


def build_specs(args, by_name, ablation, default_desc):
    """(entries, skipped) for one slice size; entries are partial specs."""
    presets = []
    if args.presets:
        presets += split_list(args.presets)
    if args.ablation:
        presets += [p for p in ablation if p not in presets]
    if not presets:
        presets = ["default"]
    for p in presets:
        if p != "default" and p not in by_name:
            raise BenchError("unknown preset %r (known: default, %s)"
                             % (p, ", ".join(sorted(by_name))))
    entries, skipped = [], []
    for p in presets:
        entries.append({
            "key": "statesmix:" + p, "compressor": "statesmix", "kind": "statesmix",
            "settings": default_desc if p == "default" else "preset " + p,
            "params": {"preset": None if p == "default" else p},
            "threads": args.threads, "block_size": args.block_size, "module": "statesmix",
        })
    for comp, settings, kind, module, params in BASELINES:
        entries.append({"key": "%s:%s" % (comp, settings), "compressor": comp, "kind": kind,
                        "settings": settings, "params": params, "threads": 1,
                        "module": module})
    if args.only:
        only = split_list(args.only)
        keys = {e["key"] for e in entries}
        for o in only:
            if o not in COMPRESSORS and o not in keys:
                raise BenchError("unknown compressor %r in --only (known: %s)"
                                 % (o, ", ".join(COMPRESSORS)))
        entries = [e for e in entries if e["compressor"] in only or e["key"] in only]
    kept = []
    for e in entries:
        if e["module"] != "statesmix" and not _available(e["module"]):
            reason = ("%s is not on the PATH (Debian: apt-get install %s)"
                      % (e["module"][4:], e["module"][4:]) if e["module"].startswith("cmd:")
                      else "Python module %r is not installed (pip install "
                           "'statesmix[bench]')" % e["module"])
            skipped.append({"key": e["key"], "compressor": e["compressor"],
                            "settings": e["settings"], "reason": reason})
        else:
            kept.append(e)
    return kept, skipped
