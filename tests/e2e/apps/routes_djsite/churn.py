"""ROUTES_CHURN=1: after the first request a thread rewrites the root urlpatterns without pause
(in-place slice assignments that reallocate the list, appends, pops, fresh include() lists), so
a reader outside sees lists, patterns and strings change and get freed under it."""
import itertools
import threading

from django.urls import include, path


def churn(urls, view):
    base = list(urls.urlpatterns)
    for i in itertools.count():
        extra = [path(f"churn{i % 7}/<int:n>/", view, name=f"churn{i % 7}"),
                 path(f"inc{i % 5}/", include([path(f"x{j}/<slug:s>", view) for j in range(i % 9)]))]
        urls.urlpatterns[:] = (base + extra) if i % 2 else (extra + base[: i % len(base)])
        urls.urlpatterns.append(path(f"tail{i % 3}/", view))
        urls.urlpatterns.pop(0)


def start(urls, view):
    threading.Thread(target=churn, args=(urls, view), daemon=True).start()
