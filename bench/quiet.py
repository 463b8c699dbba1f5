"""Timing on a shared machine: wait until the CPUs are quiet, run a command
in a child process, and tell how much CPU time other processes took
meanwhile (the machine's busy time from /proc/stat, less the child's own
and that of the processes the caller runs on purpose, e.g. busy loops).
A run during which others took more than a small share is repeated.

    from bench.quiet import timed
    run = timed(["python", "-m", "statesmix", "-c", "f"], stdout=out)
    run["wall"], run["cpu"], run["foreign"], run["rss_mb"], run["tries"]

Linux only (/proc).  Times are wall-clock seconds of the child alone.
"""
import os
import subprocess
import sys
import time

QUIET_CPU = 0.3         # CPU seconds in a 2-second look that still count as quiet
FOREIGN_SHARE = 0.05    # of the wall time, that other processes may take during a run


def busy_seconds():
    """CPU seconds all CPUs have spent busy since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def process_seconds(pid):
    """CPU seconds of a running process (user + system)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_seconds(pids):
    return sum(process_seconds(p) for p in pids)


def wait_quiet(own=(), log=sys.stderr):
    """Return once a 2-second look finds the CPUs idle but for `own` processes."""
    said = False
    while True:
        b0, o0 = busy_seconds(), own_seconds(own)
        time.sleep(2)
        if busy_seconds() - b0 - (own_seconds(own) - o0) < QUIET_CPU:
            return
        if not said and log is not None:
            log.write("bench.quiet: waiting for a quiet machine\n")
            log.flush()
            said = True
        time.sleep(8)


def run_once(cmd, stdin=None, stdout=None, env=None, own=()):
    """One run: wall, the child's CPU and peak RSS, and the others' CPU."""
    b0, o0 = busy_seconds(), own_seconds(own)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=stdin, stdout=stdout, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    busy = busy_seconds() - b0 - (own_seconds(own) - o0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit("bench.quiet: %s failed" % " ".join(map(str, cmd)))
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall": wall, "cpu": cpu, "foreign": max(0.0, busy - cpu),
            "rss_mb": usage.ru_maxrss / 1024}


def timed(cmd, stdin=None, stdout=None, env=None, own=(), tries=5, wait=True,
          log=sys.stderr):
    """run_once after a quiet look, again while others took more than
    FOREIGN_SHARE of it (at most `tries` times; the last run counts, with
    "quiet": False).  `stdin`/`stdout` are paths or None.  wait=False: one
    run at once, whatever the load (its CPU seconds still mean something)."""
    for i in range(1, tries + 1 if wait else 2):
        if wait:
            wait_quiet(own, log)
        with open(stdin or os.devnull, "rb") as fin, open(stdout or os.devnull, "wb") as fout:
            run = run_once(cmd, fin, fout, env, own)
        run["tries"] = i
        run["quiet"] = run["foreign"] <= FOREIGN_SHARE * run["wall"]
        if run["quiet"]:
            return run
        if log is not None:
            log.write("bench.quiet: others took %.1f s of a %.1f s run, again\n"
                      % (run["foreign"], run["wall"]))
            log.flush()
    return run
