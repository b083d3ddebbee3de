"""The local web UI (`strop ui`): runs, live progress, the tree, experiments, comparisons, nightly jobs.

    create_app(home, token=None) -> FastAPI      the app; `agent.ui.app` lists its routes

Server-rendered pages (Jinja) with htmx and its server-sent-events extension,
both vendored under `static/`, so the UI works with no network.
"""
