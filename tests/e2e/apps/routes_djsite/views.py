"""One view for every pattern; the first request also writes the site's own truth (see truth.py)."""
import os

from django.http import HttpResponse
from django.urls import resolve


def page(request, **kwargs):
    path = os.environ.get("ROUTES_TRUTH")
    if path and not os.path.exists(path):
        from routes_djsite import truth
        truth.write(path)
    return HttpResponse(f"{resolve(request.path_info).route}\n", content_type="text/plain")
