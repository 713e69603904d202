"""Signet: the app factory. Paths → config → extensions → blueprints → errors → CLI."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from .config import load_config
from .extensions import csrf, db, limiter, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


class SignetFlask(Flask):
    """Flask, with `ensure_sync` remembered per function: Flask asks it for every view and hook of
    every request, and each answer costs an `inspect.iscoroutinefunction` (Signet has no async
    views, so each answer is the function itself; an async one still gets Flask's wrapper)."""

    _SYNC_CACHE_SIZE = 1024  # views, hooks and error handlers are registered once: a few hundred

    def ensure_sync(self, func):
        cache = self.__dict__.setdefault("_sync_cache", {})
        try:
            return cache[func]
        except KeyError:
            wrapped = super().ensure_sync(func)
            if len(cache) < self._SYNC_CACHE_SIZE:
                cache[func] = wrapped
            return wrapped
        except TypeError:  # unhashable
            return super().ensure_sync(func)


def create_app(overrides: dict | None = None, instance_path: str | None = None) -> Flask:
    """Build the app; tests pass their own database in `overrides` and a temporary instance folder."""
    app = SignetFlask(
        __name__,
        instance_path=instance_path or str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    Path(app.instance_path).mkdir(mode=0o700, exist_ok=True)
    app.config.update(load_config(Path(app.instance_path)))
    app.config.update(overrides or {})

    from .infra import database, ratelimit, security
    from . import templating

    database.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    ratelimit.configure(app)  # short Redis timeouts and a circuit breaker for the limiter's store
    with security.pages_only(app):  # their request hooks skip the JSON API
        csrf.init_app(app)
        limiter.init_app(app)
        login_manager.init_app(app)
    ratelimit.sweep_in_one_thread(limiter.storage)  # memory:// counters: no timer thread per sweep
    security.init_app(app)
    templating.init_app(app)

    register_blueprints(app)
    from . import hosted

    hosted.init_app(app)  # the /m/ pages, and the middleware that keeps their URL secrets out of logs

    from . import cli, errors
    from .infra import background, hosts

    errors.init_app(app)
    cli.init_app(app)
    background.init_app(app)  # work a request hands off starts once its response is made
    hosts.init_app(app)  # last: its Host check becomes the first request hook
    return app


def register_blueprints(app: Flask) -> None:
    """Every face of Signet, registered in one place: staff sign-in and dashboard, the widget API
    and its OpenAPI document, the health check (the hosted pages register with hosted.init_app)."""
    from .auth import bp as auth_bp
    from .dashboard import bp as dashboard_bp
    from .infra.health import bp as health_bp
    from .widget_api import bp as widget_bp
    from .widget_api.openapi import bp as api_docs_bp
    from .server_api import bp as server_bp

    for blueprint in (auth_bp, dashboard_bp, widget_bp, api_docs_bp, health_bp, server_bp):
        app.register_blueprint(blueprint)
