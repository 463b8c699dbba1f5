"""The results as text: the tables of latest.md and of the README."""
import json
import os
import re
from pathlib import Path

from .util import BenchError, fmt_size

README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"
RESULT_NAME = re.compile(r"^\d{8}T\d{6}Z-.*\.json$")

# Published reference numbers: slice size -> [(label, compressed bytes)].
PUBLISHED = {
    # paq8px and cmix: their published builds' results on enwik6 (issue 14)
    1_000_000: [("StateSMix (paper)", 265_370), ("xz -9e (paper)", 290_740),
                ("paq8px v216 -8", 195_006), ("cmix v21", 173_431)],
    3_000_000: [("StateSMix (paper)", 805_926)],
    10_000_000: [("StateSMix (paper)", 2_702_498)],
    100_000_000: [("StateSMix (paper)", 26_622_640)],
}


def _fmt_num(v, fmt):
    return "—" if v is None else fmt.format(v)


def _verified_cell(e):
    if e.get("status") == "ok":
        return "yes"
    if e.get("status") == "mismatch":
        return "**NO (mismatch)**"
    return "**%s**" % (e.get("status") or "error").upper()


def slice_table(entries, size):
    rows = sorted(entries, key=lambda e: (e.get("status") != "ok",
                                          e.get("compressed_bytes") or float("inf")))
    lines = ["| compressor | settings | slice | compressed bytes | bpb | compress s | "
             "decompress s | KB/s | tokens/s | peak RSS MB | threads | verified |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for e in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            e["compressor"], e["settings"], fmt_size(size),
            _fmt_num(e.get("compressed_bytes"), "{:,}"), _fmt_num(e.get("bpb"), "{:.3f}"),
            _fmt_num(e.get("compress_s"), "{:.2f}"), _fmt_num(e.get("decompress_s"), "{:.2f}"),
            _fmt_num(e.get("compress_kbps"), "{:,.1f}"),
            _fmt_num(e.get("tokens_per_s"), "{:,.0f}"),
            _fmt_num(e.get("peak_rss_mb"), "{:,.1f}"), e.get("threads", "—"),
            _verified_cell(e)))
    for label, cb in PUBLISHED.get(size, []):
        lines.append("| *%s* | *published* | %s | *%s* | *%.3f* | | | | | | | |"
                     % (label, fmt_size(size), "{:,}".format(cb), 8.0 * cb / size))
    return lines


def machine_lines(res):
    m = res["machine"]
    return ["- host: %s; CPU: %s; %d cores (%d usable)" % (m["host"], m["cpu"], m["cores"],
                                                          m["usable_cores"]),
            "- statesmix %s, commit %s; Python %s; threads %s; block size %s; %s" % (
                res["statesmix_version"], res.get("git_commit") or "unknown",
                res["python"], res["threads"], res.get("block_size") or "default",
                " ".join("%s=%s" % kv for kv in sorted(res.get("omp_env", {}).items()))
                or "no OMP_* settings"),
            "- input: %s (%s bytes)" % (res["input"]["path"],
                                        "{:,}".format(res["input"]["size"]))]


def render_markdown(res):
    out = ["# statesmix benchmark", "",
           "Run started %s, finished %s (UTC). Slices are prefixes of enwik8; bpb = 8 × "
           "compressed / original; KB/s is compression speed in 1000 bytes per second; "
           "peak RSS covers compression and decompression of the entry in its own process; "
           "published reference numbers are in italics."
           % (res["started"].replace("T", " ").rstrip("Z"),
              res["finished"].replace("T", " ").rstrip("Z")), ""]
    out += machine_lines(res) + [""]
    for size in res["sizes"]:
        ents = [e for e in res["entries"] if e["size"] == size]
        if not ents:
            continue
        out += ["## %s (%s bytes)" % (fmt_size(size), "{:,}".format(size)), ""]
        out += slice_table(ents, size) + [""]
    notes = list(res.get("notes", []))
    notes += ["%s %s skipped: %s" % (s["compressor"], s["settings"], s["reason"])
              for s in res.get("skipped", [])]
    notes += ["%s %s on %s failed: %s" % (e["compressor"], e["settings"], fmt_size(e["size"]),
                                          e.get("error", e.get("status")))
              for e in res["entries"] if e.get("status") != "ok"]
    if notes:
        out += ["Notes:", ""] + ["- " + n for n in notes] + [""]
    return "\n".join(out)


def render_readme(res):
    sizes = [s for s in res["sizes"] if any(e["size"] == s for e in res["entries"])]
    rows, order = {}, []
    for e in res["entries"]:
        k = (e["compressor"], e["settings"])
        if k not in rows:
            rows[k] = {}
            order.append(k)
        rows[k][e["size"]] = e
    best = {}
    for k in order:
        best[k] = min((rows[k][s].get("bpb") or float("inf")) for s in rows[k])
    order.sort(key=lambda k: (k[0] != "statesmix", best[k]))
    head = "| compressor | settings | " + " | ".join(fmt_size(s) for s in sizes) + " |"
    lines = [head, "|---|---|" + "---:|" * len(sizes)]
    for k in order:
        cells = []
        for s in sizes:
            e = rows[k].get(s)
            if e is None:
                cells.append("")
            elif e.get("status") != "ok":
                cells.append("**%s**" % (e.get("status") or "error").upper())
            else:
                cells.append("{:,} ({:.3f})".format(e["compressed_bytes"], e["bpb"]))
        lines.append("| %s | %s | %s |" % (k[0], k[1], " | ".join(cells)))
    labels = []
    for s in sizes:
        for label, _ in PUBLISHED.get(s, []):
            if label not in labels:
                labels.append(label)
    for label in labels:
        cells = []
        for s in sizes:
            cb = dict(PUBLISHED.get(s, [])).get(label)
            cells.append("" if cb is None else "*{:,} ({:.3f})*".format(cb, 8.0 * cb / s))
        lines.append("| *%s* | *published* | %s |" % (label, " | ".join(cells)))
    m = res["machine"]
    lines += ["", "Compressed bytes (bits per byte) on prefixes of enwik8; %s, %d thread(s), "
              "statesmix %s (%s), %s. Full tables: `bench/results/latest.md`."
              % (m["cpu"], res["threads"], res["statesmix_version"],
                 (res.get("git_commit") or "unknown")[:12], res["finished"][:10])]
    return "\n".join(lines)


def latest_result(out_dir):
    out_dir = Path(out_dir)
    files = sorted(p for p in out_dir.glob("*.json") if RESULT_NAME.match(p.name)) \
        if out_dir.is_dir() else []
    if not files:
        raise BenchError("no results in %s; run python -m bench first" % out_dir)
    best = None
    for p in files:
        try:
            with open(p) as f:
                res = json.load(f)
        except (OSError, ValueError):
            continue
        if best is None or res.get("finished", "") >= best.get("finished", ""):
            best = res
    if best is None:
        raise BenchError("no readable results in %s" % out_dir)
    return best


def update_readme(path, table):
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise BenchError("cannot read %s: %s" % (path, e.strerror or e)) from None
    a, b = text.find(README_START), text.find(README_END)
    if a < 0 or b < 0 or b < a:
        raise BenchError("%s has no %s ... %s markers" % (path, README_START, README_END))
    new = text[:a + len(README_START)] + "\n" + table + "\n" + text[b:]
    if new != text:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(new)
        os.replace(tmp, path)
    return new != text
