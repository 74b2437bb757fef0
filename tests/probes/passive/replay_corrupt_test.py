#!/usr/bin/env python3
"""`agent --replay` on pcap files corrupted at random offsets (overwritten bytes, truncations,
absurd record lengths): it prints counts and exits 0, or says what is wrong and exits 3; it never
crashes, hangs or prints broken JSON. Seeded, so a failure reproduces."""
import json
import random
import struct
import subprocess
import tempfile
import unittest
from pathlib import Path

from support import AGENT, SANITIZED, SOURCE_DIR

PCAPS = Path(SOURCE_DIR) / "tests" / "probes" / "passive" / "pcaps"
# Under ASan each run costs ~0.2 s of sanitizer start-up; fewer byte-flip variants per file still
# cover every kind of damage there (the dissector's fuzz target covers the bytes at volume).
VARIANTS_PER_FILE = 3 if SANITIZED else 10


def corruptions(data, rng):
    """A few ways a capture file goes bad on disk or in transfer."""
    yield "truncated", data[:rng.randrange(1, len(data))]
    for _ in range(VARIANTS_PER_FILE):
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        yield "bytes", bytes(b)
    # A record header claiming a huge length (the first record starts after the 24-byte header).
    if len(data) > 40 and data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"):
        b = bytearray(data)
        fmt = "<I" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">I"
        b[32:36] = struct.pack(fmt, 0xFFFFFFF0)
        yield "caplen", bytes(b)
    yield "empty", b""
    yield "header only", data[:24]


class CorruptReplay(unittest.TestCase):
    def test_never_crashes_on_corrupted_files(self):
        rng = random.Random(20261123)
        files = sorted(p for p in PCAPS.iterdir() if p.suffix in (".pcap", ".pcapng"))
        self.assertGreater(len(files), 3)
        runs = errors = 0
        with tempfile.TemporaryDirectory() as d:
            for source in files:
                for i, (kind, data) in enumerate(corruptions(source.read_bytes(), rng)):
                    path = Path(d) / f"{source.stem}-{i}.pcap"
                    path.write_bytes(data)
                    proc = subprocess.run([AGENT, "--replay", str(path), "--format", "json"],
                                          capture_output=True, text=True, timeout=30)
                    what = f"{source.name} {kind} #{i}: rc {proc.returncode}\n{proc.stderr}"
                    runs += 1
                    self.assertIn(proc.returncode, (0, 3), what)  # never a signal (negative)
                    if proc.returncode == 3:
                        errors += 1
                        self.assertIn(path.name, proc.stderr, what)
                    if proc.stdout.strip():
                        counts = json.loads(proc.stdout)  # partial counts are still JSON
                        self.assertGreaterEqual(counts["packets"], 0)
                    else:
                        self.assertEqual(proc.returncode, 3, what)
        self.assertGreater(errors, 0)  # the corruption did reach the parser
        print(f"{runs} corrupted replays, {errors} reported an error", flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
