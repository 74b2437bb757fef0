"""What the kernel benchmarks share (kernel_bench.sh, kernel_namespaces_bench.sh,
kernel_tcp_info_bench.sh): timing a command, alternating connwatch's collection with the reference
tool's so both see the same cache and table state, and the report of ratios and RSS growth.

`inner` is kernel-collect-once's `--repeat N` JSON: first_seconds, median_seconds, collections,
rss_before_kib, rss_after_kib, hwm_kib."""
import json
import statistics
import subprocess
import time

RSS_GROWTH_LIMIT_KIB = 16 * 1024  # the issues' target: the collector's RSS grows under 16 MiB


def wall(argv, **kw):
    """Seconds one run of argv takes, its output discarded."""
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t


def alternate(reference, ours, runs):
    """Runs reference() and ours() in turn `runs` times; returns their lists of seconds."""
    ref_times, our_times = [], []
    for _ in range(runs):
        ref_times.append(reference())
        our_times.append(ours())
    return ref_times, our_times


def inner_collections(tool, *args, repeat=7):
    """collect_once() timed inside one kernel-collect-once process, with its RSS."""
    out = subprocess.run([tool, *args, "--repeat", str(repeat)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def report(reference_name, ref_times, our_times, inner):
    """Prints the ratio and RSS lines; returns whether both targets hold."""
    ref_med, our_med = statistics.median(ref_times), statistics.median(our_times)
    print(f"{reference_name + ':':<31}median {ref_med*1000:.1f} ms over {len(ref_times)} runs")
    print(f"kernel-collect-once (process): median {our_med*1000:.1f} ms over {len(our_times)} runs")
    print(f"  ratio connwatch / reference: {our_med/ref_med:.2f}x  (target <= 1.0)")
    print(f"collect_once() inside process: first {inner['first_seconds']*1000:.1f} ms, "
          f"median {inner['median_seconds']*1000:.1f} ms over {inner['collections']}")
    print(f"  ratio collection / reference: {inner['median_seconds']/ref_med:.2f}x")
    growth = inner["hwm_kib"] - inner["rss_before_kib"]
    print(f"RSS of the collecting process: {inner['rss_before_kib']} KiB before, "
          f"{inner['rss_after_kib']} KiB after, peak {inner['hwm_kib']} KiB: "
          f"growth {growth/1024:.1f} MiB (target < 16 MiB)")
    return our_med <= ref_med and growth < RSS_GROWTH_LIMIT_KIB
