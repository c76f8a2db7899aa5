"""Flask app for the route-table reader test: a blueprint with url_prefix and the converters
Werkzeug ships (<slug>, <int:>, <uuid:>, <path:>, a 3-value <any(...)>). Run directly
(`python routes_flask.py TRUTH_FILE`) it writes its own rule list and sleeps; under gunicorn
(`routes_flask:app`) it writes the truth file named by ROUTES_TRUTH at import."""
import json
import os
import sys
import time

import flask
from flask import Blueprint, Flask

app = Flask(__name__)
blog = Blueprint("blog", __name__, url_prefix="/blog")


@blog.route("/post/<slug>")
def post(slug):
    return slug


@blog.route("/post/<int:pid>/edit", methods=["GET", "POST"])
def edit(pid):
    return str(pid)


@blog.route("/archive/<int:year>/<any(draft,published,archived):state>/")
def archive(year, state):
    return state


app.register_blueprint(blog)


@app.route("/")
def index():
    return "ok"


@app.route("/items/<uuid:item_id>", methods=["PUT", "DELETE"])
def item(item_id):
    return str(item_id)


@app.route("/files/<path:p>")
def files(p):
    return p


@app.route("/café/<name>")
def cafe(name):
    return name


def truth():
    """The app's own table, as `doctor --routes` should print it: (methods, rule) in Map order."""
    return [[",".join(sorted(r.methods)), r.rule] for r in app.url_map.iter_rules()]


def write_truth(path):
    with open(path + ".tmp", "w") as f:
        json.dump({"python": sys.version.split()[0], "flask": flask.__version__, "routes": truth()}, f)
    os.rename(path + ".tmp", path)


if os.environ.get("ROUTES_TRUTH"):
    write_truth(os.environ["ROUTES_TRUTH"])

if __name__ == "__main__":
    write_truth(sys.argv[1])
    time.sleep(120)
