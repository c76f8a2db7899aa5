"""Included by module name: path converters, a re_path endpoint, escaped literals and include()
nested three levels down."""
from django.urls import include, path, re_path

from routes_djsite.views import page

urlpatterns = [
    path("", page, name="blog-index"),
    path("articles/<int:year>/<slug:slug>/", page, name="blog-article"),
    re_path(r"^archive/(?P<year>[0-9]{4})/$", page, name="blog-archive"),
    path("a.b-c+(d)~/", page, name="blog-escaped"),
    path("deep/", include([path("er/", include([path("x/<int:n>", page, name="blog-deep")]))])),
]
