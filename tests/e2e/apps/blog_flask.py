"""A Flask blog for the route-table tests (issue #14): a blueprint with a url_prefix, the usual
converters (<slug>, <int:>, <uuid:>, <path:>), a parameter that only ever takes three values,
methods (a 405) and a strict trailing slash (a 308). Every response says, in X-Rule, the rule
Flask itself matched: the test's independent truth. Served by gunicorn as blog_flask:app."""
from flask import Blueprint, Flask, request
from werkzeug.routing import Rule

app = Flask(__name__)
blog = Blueprint("blog", __name__, url_prefix="/blog")
api = Blueprint("api", __name__, url_prefix="/api/v1")


@app.after_request
def say_rule(resp):
    if request.url_rule is not None:  # absent on a 404, 405 or redirect: no rule was chosen
        resp.headers["X-Rule"] = request.url_rule.rule
    return resp


@app.get("/")
def home():
    return "home\n"


@blog.get("/post/<slug>")
def post(slug):
    return f"post {slug}\n"


@blog.route("/post/<slug>/comments", methods=["GET", "POST"])
def comments(slug):
    return f"comments of {slug}\n"


@blog.get("/archive/<int:year>/<int:month>/")
def archive(year, month):
    return f"archive {year}-{month}\n"


@app.get("/users/<username>/profile")
def profile(username):
    return f"profile {username}\n"


@app.get("/tag/<tag>")
def tag(tag):
    return f"tag {tag}\n"


@api.get("/orders/<uuid:order_id>")
def order(order_id):
    return {"order": str(order_id)}


@api.get("/users/<int:user_id>")
def api_user(user_id):
    return {"id": user_id}


@app.get("/files/<path:name>")
def files(name):
    return f"file {name}\n"


def late(n):
    return f"late {n}\n"


@app.post("/admin/add-rule")
def add_rule():
    """A rule added while serving (plugins, lazily registered views): Flask's add_url_rule
    refuses after the first request, the map itself does not."""
    app.view_functions["late"] = late
    app.url_map.add(Rule("/late/<int:n>", endpoint="late"))
    return "added\n"


app.register_blueprint(blog)
app.register_blueprint(api)
