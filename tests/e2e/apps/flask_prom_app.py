"""The bench service instrumented the way users do without pyvitals: prometheus_client (Debian
python3-prometheus-client) recording one latency histogram per route, method and status in
Flask's request hooks, in multiprocess mode as gunicorn's several workers need
(PROMETHEUS_MULTIPROC_DIR), with /metrics served by the app. Used by make bench only."""
import time

from flask import Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest, multiprocess

from flask_app import app

LATENCY = Histogram("http_server_request_duration_seconds", "HTTP request latency",
                    ["method", "route", "status"])


@app.before_request
def _start():
    g.started = time.perf_counter()


@app.after_request
def _record(response):
    route = request.url_rule.rule if request.url_rule else "unmatched"
    LATENCY.labels(request.method, route, str(response.status_code)).observe(time.perf_counter() - g.started)
    return response


@app.get("/metrics")
def metrics():
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
