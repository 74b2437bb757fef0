#!/usr/bin/env python3
"""Remove lab namespaces (cwlab-*) and work directories left behind by killed runs.

    python3 tests/lab/cleanup.py          # only those whose creating process is gone
    python3 tests/lab/cleanup.py --all    # every cwlab-* namespace (no lab may be running)

A lab's names embed its creator's pid (cwlab-<pid>-<random>-c), so a running lab is never
touched without --all. Exit 0; prints one line per removed namespace.
"""

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

NAME = re.compile(r"^cwlab-(?:probe-)?(\d+)-[0-9a-f]+")


def owner_alive(name: str) -> bool:
    match = NAME.match(name)
    if not match:
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lab_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    # Lines look like "cwlab-123-abcdef-c (id: 4)".
    return [line.split()[0] for line in out.stdout.splitlines()
            if line.startswith("cwlab-")]


def remove(name: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True,
                          timeout=10)
    for pid in pids.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="also namespaces of live processes")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("cleanup.py: needs root to delete network namespaces", file=sys.stderr)
        return 1
    for name in lab_namespaces():
        if args.all or not owner_alive(name):
            remove(name)
            print(f"removed namespace {name}")
    for workdir in glob.glob(os.path.join(tempfile.gettempdir(), "cwlab-*")):
        if os.path.isdir(workdir) and (args.all or not owner_alive(os.path.basename(workdir))):
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
