"""`wdk web`: the observability UI (runs, a run's timeline, events, streams).

    from wdk.web import create_app
    app = create_app()          # an aiohttp application; `wdk web` serves it

The page is `static/index.html` plus `static/app.js`, built from the JSX in
`ui/` by `scripts/build_ui.py` and committed: serving it needs no build tool.
"""

from wdk.web.app import create_app

__all__ = ["create_app"]
