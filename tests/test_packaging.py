"""The wheel is what it says it is: `pip wheel .`, then installed into a
fresh virtual environment, it imports, round-trips through the API and the
command line, and carries what a package should (license, type marker,
no training script).  Building needs pip to fetch the build requirements
(setuptools, cffi) unless they are at hand; offline, the test skips."""
import os
import pathlib
import re
import subprocess
import sys
import sysconfig
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
_OFFLINE = re.compile(r"Could not find a version|No matching distribution|"
                      r"Failed to establish a new connection|Temporary failure in name "
                      r"resolution|Network is unreachable|connection broken", re.I)


def _run(cmd, **kw):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env,
                          timeout=600, **kw)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, REPO])
    if r.returncode != 0:
        if _OFFLINE.search(r.stdout + r.stderr):
            pytest.skip("offline: pip could not fetch the build requirements")
        pytest.fail("pip wheel failed:\n" + r.stdout + r.stderr)
    (path,) = out.glob("statesmix-*.whl")
    return path


def test_wheel_contents_and_tag(wheel):
    # the extension is built against the stable ABI: one wheel for CPython >= 3.9
    assert re.search(r"-cp39-abi3-[^-]+\.whl$", wheel.name), wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert any(re.fullmatch(r"statesmix/_core\.abi3\.so", n) for n in names), names
    assert "statesmix/py.typed" in names
    assert not [n for n in names if n.endswith("train_vocab.py")]
    assert any(re.search(r"\.dist-info/(licenses/)?LICENSE$", n) for n in names), names
    meta = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in meta and "Classifier: Typing :: Typed" in meta
    assert "Project-URL:" in meta


def test_fresh_environment_installs_and_round_trips(wheel, tmp_path):
    venv = tmp_path / "venv"
    r = _run([sys.executable, "-m", "venv", venv])
    assert r.returncode == 0, r.stderr
    py = venv / "bin" / "python"
    r = _run([py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", wheel])
    assert r.returncode == 0, r.stdout + r.stderr
    # the dependencies already installed here (numpy, cffi, tokenizers),
    # behind the environment's own packages
    site = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    pathlib.Path(site.stdout.strip(), "host-deps.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n")
    script = ("import statesmix, sys; "
              "assert statesmix.__file__.startswith(sys.prefix), statesmix.__file__; "
              "d = b'fresh environment ' * 50; "
              "assert statesmix.decompress(statesmix.compress(d)) == d; print('ok')")
    r = _run([py, "-c", script], cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
    src = tmp_path / "a.txt"
    src.write_bytes(b"through the installed command line\n" * 20)
    cli = venv / "bin" / "statesmix"
    assert _run([cli, "-k", src], cwd=tmp_path).returncode == 0
    r = _run([cli, "-dc", str(src) + ".ssx"], cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.encode() == src.read_bytes()
