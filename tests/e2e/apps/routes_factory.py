"""Flask factory for the route-table reader test (`gunicorn 'routes_factory:create_app()'`):
the app it returns is held by no module global, so only the GC walk finds it. It imports
routes_flask, whose global app is a decoy with more rules."""
import json
import os
import sys

from flask import Flask

import routes_flask  # noqa: F401  (the decoy)


def create_app():
    app = Flask("factory")

    @app.route("/made/<int:n>")
    def made(n):
        return str(n)

    @app.route("/by/factory", methods=["POST"])
    def by_factory():
        return "ok"

    if os.environ.get("ROUTES_TRUTH"):
        rules = [[",".join(sorted(r.methods)), r.rule] for r in app.url_map.iter_rules()]
        with open(os.environ["ROUTES_TRUTH"] + ".tmp", "w") as f:
            json.dump({"python": sys.version.split()[0], "routes": rules}, f)
        os.rename(os.environ["ROUTES_TRUTH"] + ".tmp", os.environ["ROUTES_TRUTH"])
    return app
