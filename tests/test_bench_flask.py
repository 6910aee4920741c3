"""The Flask benchmark still runs (tiny sizes, no timing assertions: see bench/__init__.py)."""

from __future__ import annotations

import pytest

from bench import flask_views
from bench.report import text_table

from .support.bench import assert_measured

WRK_OUTPUT = """\
Running 1s test @ http://127.0.0.1:8000/checkout
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.55ms    3.10ms  41.20ms   75.00%
    Req/Sec   760.12    120.40     1.02k    70.00%
  Latency Distribution
     50%   10.10ms
     75%   12.00ms
     90%   14.50ms
     99%    1.21s
  1520 requests in 1.00s, 300.00KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   1519.80
Transfer/sec:    299.80KB
"""


def test_the_in_process_ratios_run() -> None:
    report = flask_views.run_views(flask_views.Sizes(requests=2, rounds=2))
    assert [row.name for row in report.rows] == [
        "flask: GET /r/<code> (new visitor)",
        "flask: GET /r/<code> (same visitor again)",
        "flask: checkout with @track_conversion (referred)",
        "flask: checkout with @track_conversion (not referred)",
    ]
    assert_measured(report.rows)
    assert "baseline: the same Flask checkout" in text_table(report.rows, [], report.notes)


def test_wrk_output_is_parsed() -> None:
    result = flask_views.parse_wrk(WRK_OUTPUT)
    assert result == flask_views.WrkResult(1519.8, 1210.0, 1520, 4, 3)
    with pytest.raises(ValueError, match="not the output of wrk"):
        flask_views.parse_wrk("wrk: command not found")


def test_the_load_test_runs() -> None:
    """A referred checkout (the Lua script, both servers, the stored-rows check) for 1 s."""
    problem = flask_views.missing_tools()
    if problem is not None:
        pytest.skip(problem)
    sizes = flask_views.LoadSizes(duration=1, warmup=0, connections=2, threads=1, workers=1)
    report = flask_views.run_load(sizes, parts=["referred"])
    assert [line.ok for line in report.lines] == [True, True, True], report.lines
    assert "refkit's checkout (referred) stored" in report.lines[-1].text
    assert " 0 orders" not in report.lines[-1].text


def test_the_joined_load_test_runs() -> None:
    """The checkout whose order and conversion are one transaction, under gunicorn for 1 s:
    every order stored has its conversion and two rewards, in the shop's one file."""
    problem = flask_views.missing_tools()
    if problem is not None:
        pytest.skip(problem)
    sizes = flask_views.LoadSizes(duration=1, warmup=0, connections=2, threads=1, workers=1)
    report = flask_views.run_load(sizes, parts=["joined"])
    assert [line.ok for line in report.lines] == [True, True, True], report.lines
    assert "one transaction with the shop's order" in report.lines[1].text
    assert "refkit's checkout (joined) stored" in report.lines[-1].text
    assert " 0 orders" not in report.lines[-1].text
