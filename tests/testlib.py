"""Setup shared by the Python tests. They run as `python tests/test_x.py`, so this folder is
sys.path[0] and `import testlib` finds this file. Importing it puts python/ (the reference
adapters) on sys.path too."""
import fcntl
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("GPTOSS_HOME", "."), "python"))

BIN = os.environ["GPTOSS_BIN"]


def fixture(preset, fmt="original"):
    """The per-build synthetic checkpoint (same folders and lock as tests/lib.sh)."""
    fixtures = os.environ["GPTOSS_FIXTURES"]
    os.makedirs(fixtures, exist_ok=True)
    path = os.path.join(fixtures, f"{preset}-{fmt}")
    with open(os.path.join(fixtures, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.isdir(path):
            subprocess.run([BIN, "synth", "--preset", preset, "--format", fmt, "-o", path], check=True)
    return path


def check(cond, what):
    """A fatal check: prints the failure and exits 1."""
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)


failures = 0


def fail(msg):
    """A counted check failure (read testlib.failures at the end); the first 20 are printed."""
    global failures
    failures += 1
    if failures <= 20:
        print("FAIL:", msg)
