"""refkit's benchmarks: ``python -m bench`` (``--quick``, ``--only NAME``).

These machines are noisy, so no figure stands alone: every benchmark times refkit and a
hand-written baseline doing the same minimal work in the same process, interleaved round by
round, and reports the ratio. Nothing here asserts a time; ``tests/test_bench_smoke.py`` only
checks that each benchmark still runs.

Modules: :mod:`bench.codes` (offline code checks), :mod:`bench.conversions` (rewarded
conversions on SQLite and PostgreSQL), :mod:`bench.flask_views` (the Flask landing and
checkout, in process and under gunicorn + wrk; :mod:`bench.wsgi_app` holds the two shops),
:mod:`bench.pinax` (pinax-referrals on Django in its own virtualenv, :mod:`bench.pinax_side`
is its half) and :mod:`bench.scale` (the stats queries at 10k to 1M rows);
:mod:`bench.harness`, :mod:`bench.report` and :mod:`bench.pg` are helpers.
``python -m bench.profile NAME`` prints where one hot path's time goes (pyinstrument).
"""
