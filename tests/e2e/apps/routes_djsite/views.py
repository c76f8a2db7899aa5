"""One view for every pattern; the first request also writes the site's own truth (see truth.py)."""
import os

from django.http import HttpResponse
from django.urls import resolve


def page(request, **kwargs):
    body = f"{resolve(request.path_info).route}\n"
    path = os.environ.get("ROUTES_TRUTH")
    if path and not os.path.exists(path):
        from routes_djsite import truth
        truth.write(path)
        if os.environ.get("ROUTES_CHURN"):
            from routes_djsite import churn, urls
            churn.start(urls, page)
        if os.environ.get("ROUTES_HOSTILE"):
            from routes_djsite import hostile, urls
            hostile.start(urls, page, os.environ["ROUTES_HOSTILE"])
    return HttpResponse(body, content_type="text/plain")
