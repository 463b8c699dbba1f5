"""What a result records about the machine and the code: CPU, cores,
commit, and (asked of a child process) statesmix's version and presets."""
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from .util import BenchError

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def git_commit(root):
    def git(*args):
        return subprocess.run(["git", "-C", str(root)] + list(args), capture_output=True,
                              text=True, timeout=30)
    try:
        r = git("rev-parse", "HEAD")
        if r.returncode != 0:
            return None
        commit = r.stdout.strip()
        s = git("status", "--porcelain", "--untracked-files=no")
        if s.returncode == 0 and s.stdout.strip():
            commit += "-dirty"
        return commit
    except (OSError, subprocess.SubprocessError):
        return None


def info():
    """Child process (--info): print what the parent needs to know of statesmix."""
    try:
        import statesmix
        from statesmix import presets
    except Exception as e:  # noqa: BLE001 - any import failure is reported
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
        return 1
    by_name = dict(presets.BY_NAME)
    ablation = getattr(presets, "ABLATION", None)
    if ablation is None:
        ablation = sorted(by_name, key=lambda n: by_name[n])
    ablation = [a if isinstance(a, str) else presets.preset_name(a) for a in ablation]
    default = "default"
    lvl = getattr(presets, "DEFAULT_LEVEL", None)
    levels = getattr(presets, "LEVELS", {})
    if lvl is not None and lvl in levels and hasattr(presets, "preset_name"):
        default = "default: level %d = preset %s" % (lvl, presets.preset_name(levels[lvl]))
    root = Path(statesmix.__file__).resolve().parent.parent
    print(json.dumps({"version": statesmix.__version__, "root": str(root),
                      "by_name": by_name, "ablation": ablation, "default": default}))
    return 0


def statesmix_info(env):
    """(version, repo root, presets.BY_NAME, ablation list, default description).

    Asked of a child process: the parent stays small, because a child's
    ru_maxrss starts at the RSS its parent had when it forked."""
    r = subprocess.run([sys.executable, "-m", "bench", "--info"], capture_output=True,
                       text=True, env=env, stdin=subprocess.DEVNULL)
    try:
        info = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        info = {"error": (r.stderr.strip().splitlines() or ["exit status %d"
                                                            % r.returncode])[-1]}
    if "error" in info:
        raise BenchError("cannot import statesmix (%s); run from the repository root with "
                         "PYTHONPATH=. after building the C extension" % info["error"])
    return (info["version"], Path(info["root"]), info["by_name"], info["ablation"],
            info["default"])
