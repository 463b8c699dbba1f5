"""End-to-end tests of the benchmark harness (python -m bench) on a tiny slice."""
import json
import os
import pathlib
import re
import subprocess
import sys
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
SIZE = 20_000

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from textgen import make_text  # noqa: E402


def run_bench(*args, env_extra=None, timeout=120):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]]
                                                         if env.get("PYTHONPATH") else []))
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "bench"] + [str(a) for a in args],
                          cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def results(out):
    return sorted(p for p in out.glob("*.json") if re.match(r"^\d{8}T\d{6}Z-", p.name))


@pytest.fixture
def sample(tmp_path):
    pytest.importorskip("lzma")
    pytest.importorskip("statesmix")
    path = tmp_path / "enwik-sample"
    path.write_bytes(make_text(SIZE + 5_000))
    return path


def test_end_to_end(sample, tmp_path):
    out = tmp_path / "out"
    r = run_bench("--enwik8", sample, "--sizes", SIZE, "--presets", "count",
                  "--only", "statesmix,xz", "--threads", 1, "--block-size", 4096,
                  "--out", out)
    assert r.returncode == 0, r.stderr
    files = results(out)
    assert len(files) == 1
    res = json.loads(files[0].read_text())
    for key in ("machine", "threads", "statesmix_version", "git_commit", "python",
                "entries", "sizes"):
        assert key in res
    assert res["machine"]["cores"] >= 1 and res["threads"] == 1
    assert res["sizes"] == [SIZE]
    entries = res["entries"]
    assert sorted(e["key"] for e in entries) == ["statesmix:count", "xz:-9e"]
    for e in entries:
        assert e["status"] == "ok" and e["verified"] is True, e
        assert e["size"] == SIZE
        assert 0 < e["compressed_bytes"] < SIZE
        assert e["bpb"] == pytest.approx(8.0 * e["compressed_bytes"] / SIZE)
        assert e["compress_s"] >= 0 and e["decompress_s"] >= 0
        assert e["peak_rss_mb"] > 0
    ss = next(e for e in entries if e["compressor"] == "statesmix")
    assert ss["stats"]["tokens"] > 0 and ss["tokens_per_s"] > 0
    prog = ss["progression"]
    assert len(prog) >= 3  # 20 KB in 4 KiB blocks
    toks = [row[ss["progression_fields"].index("tokens")] for row in prog]
    assert toks == sorted(toks) and toks[-1] == ss["stats"]["tokens"]

    md = (out / "latest.md").read_text()
    assert "| compressor | settings | slice | compressed bytes | bpb |" in md
    assert "20 KB" in md and "preset count" in md and "-9e" in md
    assert md.count("| yes |") == 2
    assert not list(out.glob(".partial-*"))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib" in " ".join(res["notes"])
    else:
        assert (out / "bpb_vs_size.png").stat().st_size > 0
        assert (out / "bpt_progression.png").stat().st_size > 0


def test_resume_and_readme(sample, tmp_path):
    out = tmp_path / "out"
    args = ["--enwik8", sample, "--sizes", "10k,20k", "--presets", "count", "--only",
            "statesmix,xz", "--threads", 1, "--out", out, "--no-plots"]
    r = run_bench(*args, "--max-entries", 1)
    assert r.returncode == 3, r.stderr
    assert len(list(out.glob(".partial-*.json"))) == 1 and not results(out)
    r = run_bench(*args)
    assert r.returncode == 0, r.stderr
    assert "resuming: 1 of 4" in r.stderr
    res = json.loads(results(out)[0].read_text())
    assert len(res["entries"]) == 4
    assert sum(bool(e.get("resumed")) for e in res["entries"]) == 1
    assert all(e["verified"] for e in res["entries"])
    assert not list(out.glob(".partial-*"))

    r = run_bench("--readme", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "| compressor | settings | 10 KB | 20 KB |" in r.stdout
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:start -->\nold\n<!-- bench:end -->\ntail\n")
    r = run_bench("--update-readme", readme, "--out", out)
    assert r.returncode == 0, r.stderr
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("tail\n")
    assert "| statesmix | preset count |" in text


def test_download_errors_are_one_line(tmp_path):
    missing = (tmp_path / "missing.zip").as_uri()
    r = run_bench("--download", "--cache-dir", tmp_path / "cache",
                  env_extra={"STATESMIX_ENWIK8_URL": missing})
    assert r.returncode == 2
    assert r.stderr.startswith("bench: error: cannot download") and r.stderr.count("\n") == 1
    fake = tmp_path / "fake.zip"
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr("enwik8", b"not enwik8\n" * 100)
    r = run_bench("--download", "--cache-dir", tmp_path / "cache",
                  env_extra={"STATESMIX_ENWIK8_URL": fake.as_uri()})
    assert r.returncode == 2
    assert "fails verification" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "cache" / "enwik8").exists()


@pytest.mark.skipif(not __import__("shutil").which("zpaq"), reason="zpaq is not installed "
                    "(Debian: apt-get install zpaq)")
def test_zpaq_entry(sample, tmp_path):
    out = tmp_path / "out"
    r = run_bench("--enwik8", sample, "--sizes", SIZE, "--only", "zpaq", "--out", out,
                  "--no-plots")
    assert r.returncode == 0, r.stderr
    (e,) = json.loads(results(out)[0].read_text())["entries"]
    assert e["key"] == "zpaq:-m5" and e["status"] == "ok" and e["verified"] is True
    assert 0 < e["compressed_bytes"] < SIZE


def test_levels_table():
    """bench.levels turns a run of the levels' presets into the table and
    says whether the ladder climbs."""
    sys.path.insert(0, str(REPO))
    from bench import levels
    from statesmix.presets import LEVELS, preset_name
    names = sorted({preset_name(p) for p in LEVELS.values()},
                   key=lambda n: min(lv for lv, p in LEVELS.items() if preset_name(p) == n))
    res = {"machine": {"cpu": "test"}, "threads": 2, "statesmix_version": "0",
           "git_commit": "x", "started": "2026-12-02T00:00:00Z",
           "entries": [{"compressor": "statesmix", "settings": "preset " + n, "status": "ok",
                        "compressed_bytes": 300_000 - 1000 * i, "bpb": 2.0,
                        "compress_s": 10.0 + i, "decompress_s": 10.0 + i,
                        "compress_kbps": 50.0, "peak_rss_mb": 300.0}
                       for i, n in enumerate(names)]}
    rows = levels.ladder(res)
    assert [lv for lv, _, _ in rows] == list(range(1, 10))
    assert levels.check(rows) == []
    assert "The ladder climbs" in levels.render(res, rows)
    res["entries"][-1]["compressed_bytes"] = 400_000      # the top level grew
    assert levels.check(levels.ladder(res))


def test_level_costs_are_the_measured_table():
    """What --help says a level costs is bench/results/levels.md."""
    from statesmix.presets import LEVEL_COSTS, LEVELS, preset_name
    rows = {}
    for line in (REPO / "bench" / "results" / "levels.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 8 and cells[1].startswith("`"):
            rows[cells[1].strip("`")] = (int(cells[2].replace(",", "")), float(cells[4]),
                                         float(cells[5]), int(cells[7]))
    assert set(rows) == {preset_name(p) for p in LEVELS.values()}
    assert rows == LEVEL_COSTS


def test_growth_checks():
    """bench.growth: a lead over zpaq of at least 5 % that does not shrink,
    and a time per MB that grows at most 1.5x."""
    sys.path.insert(0, str(REPO))
    from bench import growth

    def entry(compressor, size, nbytes, sec):
        return {"compressor": compressor, "size": size, "compressed_bytes": nbytes,
                "compress_s": sec, "status": "ok"}
    res = {"entries": [entry("statesmix", 10**6, 180_000, 50), entry("zpaq", 10**6, 200_000, 3),
                       entry("statesmix", 8 * 10**6, 1_300_000, 480),
                       entry("zpaq", 8 * 10**6, 1_450_000, 30)]}
    assert growth.check(growth.rows(res)) == []            # 10.0 % -> 10.3 %
    res["entries"][2]["compressed_bytes"] = 1_320_000      # 9.0 %: shrinks
    res["entries"][2]["compress_s"] = 700                  # 1.75x per MB
    bad = growth.check(growth.rows(res))
    assert len(bad) == 2 and "shrinks" in bad[0] and "1.75x" in bad[1]
    res["entries"][2]["compressed_bytes"] = 1_400_000      # 3.4 %: under 5 %
    assert any("< 5 %" in b for b in growth.check(growth.rows(res)))


def test_pairs_alternate_and_check(tmp_path):
    """bench.pairs: compress and decompress (or two builds) in turn, each
    round trip checked, and the median of the pairs' ratios."""
    sys.path.insert(0, str(REPO))
    from bench import pairs
    f = tmp_path / "in.txt"
    f.write_bytes(make_text(3000, 5))
    one = pairs.main([str(f), "--repeat", "2", "--no-wait", "--args", "--preset count"])
    assert one["first"] == "compress" and len(one["ratios"]) == 2 and one["median"] > 0
    two = pairs.main([str(f), "--repeat", "1", "--no-wait", "--args", "--preset count",
                      "--build", str(REPO), "--build", str(REPO)])
    assert two["second"] == str(REPO) and len(two["ratios"]) == 1


def test_tryconfig_changes_the_configuration_and_verifies(tmp_path):
    """bench.tryconfig: the configuration asked for is the one used (the
    stream carries it), the round trip is checked, the line is appended."""
    from bench import tryconfig
    f = tmp_path / "in.txt"
    f.write_bytes(make_text(3000, 7))
    out = tmp_path / "runs.jsonl"
    std = tryconfig.main([str(f), "--preset", "fast", "-T", "1", "--verify"])
    small = tryconfig.main([str(f), "--preset", "fast", "-T", "1", "--verify",
                            "--config", '{"cm_bits": 12}', "--jsonl", str(out), "--tag", "t"])
    assert std["verified"] and small["verified"] and small["config"] == {"cm_bits": 12}
    assert small["bytes"] != std["bytes"]
    assert json.loads(out.read_text())["tag"] == "t"
    with pytest.raises(SystemExit):
        tryconfig.main([str(f), "--config", "[1]"])
