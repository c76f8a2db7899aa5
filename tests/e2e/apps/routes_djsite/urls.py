"""ROOT_URLCONF: include() of a module, of a list, of a (list, namespace) tuple, under a re_path
prefix with path children and under an empty prefix; every path converter; the root ''."""
from django.conf.urls.i18n import i18n_patterns
from django.urls import include, path, re_path

from routes_djsite.views import page

shop = [
    path("item/<int:pk>/", page, name="shop-item"),
    path("cat/<slug:slug>/", page, name="shop-cat"),
]
team = [
    path("", page, name="team"),
    path("files/<path:rest>", page, name="team-file"),
]
api = [
    path("items/<str:name>/", page, name="api-item"),
    path("items/", page, name="api-items"),
    re_path(r"^raw/(?P<x>[a-z]+)$", page, name="api-raw"),
]

urlpatterns = [
    path("", page, name="home"),
    path("blog/", include("routes_djsite.blog_urls")),
    path("shop/", include(shop)),
    path("team/<uuid:uid>/", include((team, "team"))),
    re_path(r"^api/v(?P<ver>[0-9]+)/", include(api)),
    re_path(r"^archive/(?P<year>[0-9]{4})/$", page, name="archive"),
    path("", include([path("about/", page, name="about"), re_path(r"^legal/$", page, name="legal")])),
    path("users/<name>/", page, name="user"),
] + i18n_patterns(path("intl/", page, name="intl"))
