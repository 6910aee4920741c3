"""The owner's dashboard, for every web framework: its data, charts, formatting and pages.

- ``refkit.dashboard.data``: the numbers behind each panel, as frozen records, from the
  program's public read model (``program.reports``).
- ``refkit.dashboard.charts``: server-side SVG charts (no JavaScript, screen-reader text).
- ``refkit.dashboard.formatting``: money, counts and dates as people read them.
- ``refkit.dashboard.page``: the context of the Jinja templates shipped here
  (``templates/refkit/admin.html``, ``referrer.html``), which the Flask extension and the
  Django app both render.
- ``refkit.dashboard.failures``: the failures refkit caught during requests, shown on the
  page.
- ``refkit.dashboard.experiment``: the A/B test's panel (intervals drawn, p-values in words).
- ``refkit.dashboard.names``: people's names from the shop's display-name loader, looked up
  once per request.

It needs MarkupSafe (installed with the ``flask`` or the ``django`` extra); ``import refkit``
does not import it.
"""
