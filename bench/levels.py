"""The levels table: one benchmark run of every level's preset, then the
check that the ladder climbs (each level at least as small as the one
below, and slower only where smaller) and the table for levels.md.

    PYTHONPATH=. python -m bench --enwik8 ../shared/data/enwik6 --sizes 1e6 \\
        --only statesmix --presets fast,light,ngram-cm,cm,cm-32,cm-2,max \\
        --out bench/results/levels-run
    PYTHONPATH=. python -m bench.levels bench/results/levels-run > bench/results/levels.md

Run it on a quiet machine: the times count (the sizes do not change).
"""
import sys
from pathlib import Path

from statesmix.presets import DEFAULT_LEVEL, LEVELS, preset_name

from .report import latest_result


def ladder(res):
    """[(level, preset, entry)] of the run, for levels 1-9."""
    by_preset = {e["settings"].replace("preset ", ""): e for e in res["entries"]
                 if e["compressor"] == "statesmix" and e.get("status") == "ok"}
    rows = []
    for level in sorted(LEVELS):
        name = preset_name(LEVELS[level])
        if name not in by_preset:
            raise SystemExit("the run has no result for preset %r (level %d)" % (name, level))
        rows.append((level, name, by_preset[name]))
    return rows


def check(rows):
    """The places where the ladder does not climb, as text."""
    # sizes that never grow are all it takes: a smaller level may be slower,
    # and levels of the same preset have the same size and, within noise,
    # the same time
    return ["level %d is larger than level %d" % (hi, lo)
            for (lo, _, a), (hi, _, b) in zip(rows, rows[1:])
            if b["compressed_bytes"] > a["compressed_bytes"]]


def render(res, rows):
    m = res["machine"]
    out = ["# Levels on enwik6", "",
           "Every level's preset compressing and decompressing the first 10^6 bytes of "
           "enwik8 (`bench.levels`), %s, %d thread(s), statesmix %s (commit %s), %s. "
           "Peak RSS is the process's, compressing (decompressing needs less: "
           "no tokenizer output)." % (m["cpu"], res["threads"], res["statesmix_version"],
                                      res.get("git_commit") or "?", res["started"][:10]),
           "",
           "| level | preset | bytes | bpb | compress s | decompress s | KB/s | peak RSS MB |",
           "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for level, name, e in rows:
        out.append("| %d%s | `%s` | %s | %.3f | %.1f | %.1f | %.1f | %.0f |" % (
            level, " (default)" if level == DEFAULT_LEVEL else "", name,
            "{:,}".format(e["compressed_bytes"]), e["bpb"], e["compress_s"],
            e["decompress_s"], e["compress_kbps"], e["peak_rss_mb"]))
    bad = check(rows)
    out += ["", "The ladder climbs: each level is at least as small as the one below and "
                "slower only where smaller." if not bad else
            "**The ladder does not climb:** " + "; ".join(bad) + "."]
    return "\n".join(out)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    res = latest_result(Path(argv[0] if argv else "bench/results/levels-run"))
    rows = ladder(res)
    print(render(res, rows))
    return 1 if check(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
