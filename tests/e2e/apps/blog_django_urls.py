"""The urlconf of blog_django: include() of a module-like list, of a (list, namespace) pair, a
re_path prefix carrying a parameter, converters, and the root."""
from django.http import HttpResponse, JsonResponse
from django.urls import include, path, re_path


def text(request, **kw):
    return HttpResponse(" ".join(f"{k}={v}" for k, v in sorted(kw.items())) + "\n")


def data(request, **kw):
    return JsonResponse({k: str(v) for k, v in kw.items()})


articles = [
    path("<int:year>/", text),
    path("<int:year>/<slug:slug>/", text),
    re_path(r"^archive/(?P<month>[0-9]{2})/$", text),
]

api = [
    path("users/<uuid:uid>/", data),
    path("items/<int:item_id>/", data),
]

urlpatterns = [
    path("", text),
    path("articles/", include(articles)),
    path("tag/<str:tag>/", text),
    re_path(r"^api/v(?P<version>[0-9]+)/", include((api, "api"))),
    path("files/<path:name>", text),
]
