"""Growth with the data: statesmix against zpaq -m5 on prefixes of one
corpus, from benchmark runs of several sizes.

    PYTHONPATH=. python -m bench --corpus gcide --sizes 1e6,2e6,4e6,8e6 \\
        --only statesmix,zpaq --out bench/results/scale/gcide
    PYTHONPATH=. python -m bench.growth bench/results/scale/gcide [more runs ...] \\
        > bench/results/scale.md

For every run and size: the default preset's bytes, zpaq's, statesmix's
lead over zpaq (1 - statesmix/zpaq), its compress and decompress seconds
per MB and its peak RSS; then the checks of issue 14: a lead of at least
5 % at every size, the lead at the largest size at least the lead at the
smallest, and the time per MB at the largest size at most 1.5x the time
per MB at the smallest.  Exits 1 where a check fails.
"""
import sys

from .report import latest_result

MIN_LEAD = 0.05
MAX_TIME_GROWTH = 1.5


def rows(res):
    """[(size, statesmix entry, zpaq entry)] of one run, by size."""
    by = {}
    for e in res["entries"]:
        if e.get("status") == "ok":
            by.setdefault(e["size"], {})[e["compressor"]] = e
    return [(s, by[s]["statesmix"], by[s]["zpaq"]) for s in sorted(by)
            if "statesmix" in by[s] and "zpaq" in by[s]]


def lead(ours, zpaq):
    return 1.0 - ours["compressed_bytes"] / zpaq["compressed_bytes"]


def check(table):
    """The failed checks of one run's rows, as text."""
    bad = ["lead %.1f %% < 5 %% at %d bytes" % (100 * lead(o, z), s)
           for s, o, z in table if lead(o, z) < MIN_LEAD]
    if len(table) > 1:
        (s0, o0, z0), (s1, o1, z1) = table[0], table[-1]
        if lead(o1, z1) < lead(o0, z0):
            bad.append("the lead shrinks from %.2f %% at %d bytes to %.2f %% at %d"
                       % (100 * lead(o0, z0), s0, 100 * lead(o1, z1), s1))
        g = (o1["compress_s"] / s1) / (o0["compress_s"] / s0)
        if g > MAX_TIME_GROWTH:
            bad.append("compress time per MB grows %.2fx from %d to %d bytes" % (g, s0, s1))
    return bad


def render(runs):
    out = ["# Growth with the data: statesmix (default preset) against zpaq -m5", ""]
    failed = False
    for name, res in runs:
        table = rows(res)
        m = res["machine"]
        out += ["## %s" % name, "",
                "%s, %d thread(s), statesmix %s (commit %s), %s; each entry compressed, "
                "decompressed and compared in its own process." % (
                    m["cpu"], res["threads"], res["statesmix_version"],
                    (res.get("git_commit") or "?")[:12], res["started"][:10])
                + "".join(" " + n for n in res.get("notes") or []), "",
                "| size | statesmix bytes | bpb | zpaq -m5 bytes | lead | compress s/MB | "
                "decompress s/MB | tokens/s | peak RSS MB |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for s, o, z in table:
            out.append("| %s | %s | %.3f | %s | %.2f %% | %.1f | %.1f | %s | %.0f |" % (
                "{:,}".format(s), "{:,}".format(o["compressed_bytes"]), o["bpb"],
                "{:,}".format(z["compressed_bytes"]), 100 * lead(o, z),
                o["compress_s"] / (s / 1e6), o["decompress_s"] / (s / 1e6),
                "{:,.0f}".format(o["tokens_per_s"]) if o.get("tokens_per_s") else "?",
                o["peak_rss_mb"]))
        bad = check(table)
        failed |= bool(bad)
        out += ["", "Checks: " + ("; ".join(bad) if bad else
                                  "a lead of at least 5 % at every size, no smaller at the "
                                  "largest size than at the smallest, and the time per MB "
                                  "at most 1.5x") + ".", ""]
    return "\n".join(out), failed


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        raise SystemExit(__doc__)
    text, failed = render([(d.rstrip("/").split("/")[-1], latest_result(d)) for d in argv])
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
