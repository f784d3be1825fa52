"""The benchmark's merging of interleaved rounds into one row (bench/run.py)."""

import importlib.util
import sys
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "bench_run", Path(__file__).resolve().parents[2] / "bench" / "run.py"
)
bench = importlib.util.module_from_spec(SPEC)
sys.modules["bench_run"] = bench  # its dataclasses resolve their annotations through it
SPEC.loader.exec_module(bench)


def part(requests: int, seconds: float, quantiles: dict, flows: int = 0) -> "bench.Measurement":
    return bench.Measurement(
        scenario="refresh", connections=8, requests=requests, seconds=seconds,
        rps=requests / seconds, p50_ms=quantiles["50"] / 1000, p99_ms=quantiles["99"] / 1000,
        errors=0, error_detail={}, cpu_ms_per_request={"web": 2.0}, flows=flows,
        latency_us=quantiles,
    )  # fmt: skip


def test_a_slow_round_sets_the_merged_tail():
    fast = part(1000, 2.0, {"50": 1000, "90": 2000, "99": 3000, "99.9": 4000, "100": 5000})
    slow = part(1000, 2.0, {"50": 9000, "90": 20000, "99": 60000, "99.9": 70000, "100": 80000})
    # Half the requests are the slow round's: the merged p99 is its p98, which its table
    # bounds by its p99; the merged median is the fast round's slowest request.
    assert bench.merged_quantile([fast, slow], 99) == 60000
    assert bench.merged_quantile([fast, slow], 50) == 5000
    assert bench.merged_quantile([fast], 99) == 3000


def test_rounds_combine_into_one_row():
    a = part(900, 3.0, {"50": 1000, "99": 3000, "100": 4000}, flows=450)
    b = part(300, 3.0, {"50": 2000, "99": 9000, "100": 12000}, flows=150)
    a.cpu_ms_per_request, b.cpu_ms_per_request = {"web": 2.0}, {"web": 4.0, "postgres": 1.0}
    row = bench.combine([a, b])
    assert (row.requests, row.seconds, row.rps) == (1200, 6.0, 200.0)
    assert (row.flows, row.flows_per_s) == (600, 100.0)
    assert row.cpu_ms_per_request == {"postgres": 0.25, "web": 2.5}  # weighted by requests
    assert row.latency_us["100"] == 12000
    assert row.p99_ms == pytest.approx(9.0)


def fine_table(latency_at) -> dict:
    """A quantile table as common.lua writes it once run_wrk() has read it: the coarse
    quantiles, then every 0.01 % from the 98th (keys as "99", "98.37", "99.5")."""
    percents = [50, 75, 90, 95, 96, 97] + [98 + i / 100 for i in range(200)]
    return {format(float(f"{p:.2f}"), "g"): latency_at(p) for p in percents} | {"100": 10**6}


def test_fine_tables_merge_to_the_p99_of_all_the_requests():
    # Two rounds of equal size whose latency at percentile p is p µs and p + 1,000 µs.
    a = part(1000, 2.0, fine_table(lambda p: round(p * 100)))
    b = part(1000, 2.0, fine_table(lambda p: round(p * 100) + 1000))
    assert {"99", "98.37", "99.5"} <= set(a.latency_us)
    assert a.latency_us["99"] == 9900
    # Of all 2,000 requests, the slowest 1 % are round b's slowest 2 %: the p99 of the whole is
    # b's p98, 10,800 µs, found to within one step of the tables (erring high).
    assert 10800 <= bench.merged_quantile([a, b], 99) <= 10801
    assert bench.merged_quantile([a, a], 99) == 9900  # identical rounds: their own p99
