"""Runs a command, measures its wall time and the peak RSS of its whole process tree, and
stops it (SIGKILL to its process group) when that RSS passes a limit, so that a benchmark
of an exporter that does not fit cannot push the shared machine into swap or the OOM
killer. Before stopping it, the watchdog sends SIGUSR1 (a Python program that registered
it with faulthandler prints its stack: where the memory ran out).

    python bench/watchdog.py --limit-gib G --report FILE -- CMD ...

FILE gets one line: `<exit status> <wall s> <peak RSS KiB> <stopped 0|1>`. The command's
own output passes through.
"""
import argparse
import os
import resource
import signal
import subprocess
import sys
import time


def tree_rss_kib(root):
    """Sum of VmRSS over root and its descendants (from /proc)."""
    children = {}
    rss = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        ppid = int(fields.get("PPid", "0").split()[0])
        children.setdefault(ppid, []).append(int(pid))
        rss[int(pid)] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit-gib", type=float, required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    limit = int(args.limit_gib * 1024 * 1024)
    t0 = time.time()
    proc = subprocess.Popen(cmd, start_new_session=True)
    peak, stopped = 0, 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kib(proc.pid))
        if peak > limit:
            # Ask for a stack dump first (a Python child that registered SIGUSR1 with
            # faulthandler prints where it is), then stop the whole group.
            try:
                os.kill(proc.pid, signal.SIGUSR1)
                time.sleep(2)
            except ProcessLookupError:
                pass
            os.killpg(proc.pid, signal.SIGKILL)
            stopped = 1
            proc.wait()
            break
        time.sleep(0.2)
    wall = time.time() - t0
    # Polling can miss a short-lived peak; the kernel's own high-water mark of the largest
    # waited-for descendant cannot.
    peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    with open(args.report, "w") as f:
        f.write(f"{proc.returncode} {wall:.2f} {peak} {stopped}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
