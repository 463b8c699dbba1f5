"""The PNG plots: bits per byte against slice size, and statesmix's running
bits per token."""
from pathlib import Path

from .report import PUBLISHED
from .util import PROGRESSION_FIELDS, fmt_size

def make_plots(res, out_dir):
    """Write the PNGs; a list of notes (empty when all went well)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["plots skipped: matplotlib is not installed (pip install matplotlib)"]
    out_dir = Path(out_dir)
    ok = [e for e in res["entries"] if e.get("status") == "ok"]

    fig, ax = plt.subplots(figsize=(8, 5))
    series = {}
    for e in ok:
        series.setdefault("%s %s" % (e["compressor"], e["settings"]), []).append(
            (e["size"], e["bpb"]))
    if len(series) > 10:
        ax.set_prop_cycle(color=plt.cm.tab20.colors)
    for label, pts in sorted(series.items(), key=lambda kv: (not kv[0].startswith("statesmix"),
                                                             kv[0])):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                lw=2.2 if label.startswith("statesmix") else 1.2, label=label)
    pub = {}
    for s, refs in PUBLISHED.items():
        for label, cb in refs:
            pub.setdefault(label, []).append((s, 8.0 * cb / s))
    for label, pts in pub.items():
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], ls="--", marker="x", color="gray"
                if "StateSMix" in label else "silver", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("slice of enwik8 (bytes)")
    ax.set_ylabel("bits per byte")
    ax.set_title("Compression of enwik8 prefixes")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(out_dir / "bpb_vs_size.png", dpi=120)
    plt.close(fig)

    # statesmix: the running bits per token, one line per setting (its largest slice:
    # a smaller slice's run is a prefix of it).
    largest = {}
    for e in ok:
        if e["compressor"] == "statesmix" and e.get("progression"):
            if e["settings"] not in largest or e["size"] > largest[e["settings"]]["size"]:
                largest[e["settings"]] = e
    if not largest:
        return []
    fig, ax = plt.subplots(figsize=(8, 5))
    for settings, e in sorted(largest.items()):
        f = e.get("progression_fields", PROGRESSION_FIELDS)
        it, ib = f.index("tokens"), f.index("ideal_bits")
        pts = [(r[it], r[ib]) for r in e["progression"] if r[it]]
        if not pts:
            continue
        line, = ax.plot([p[0] for p in pts], [p[1] / p[0] for p in pts], marker=".",
                        label="%s (%s), cumulative" % (settings, fmt_size(e["size"])))
        loc = [(b[0], (b[1] - a[1]) / (b[0] - a[0])) for a, b in zip([(0, 0.0)] + pts, pts)
               if b[0] > a[0]]
        ax.plot([p[0] for p in loc], [p[1] for p in loc], ls=":", color=line.get_color(),
                alpha=0.7, label="%s, per block" % settings)
    ax.set_xlabel("tokens coded")
    ax.set_ylabel("bits per token (model's ideal code length)")
    ax.set_title("statesmix: running bits per token")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "bpt_progression.png", dpi=120)
    plt.close(fig)
    return []
