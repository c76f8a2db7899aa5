"""A Django site for the route-table tests (issue #14), settings in code: nested include()
of a module and of a list, a re_path prefix and endpoint, path converters, APPEND_SLASH. The
urlconf (blog_django_urls) is imported by Django on the first request, as in any deployment.
X-Rule carries ResolverMatch.route, what Django itself matched: the test's truth. Served by
gunicorn as blog_django:application."""
import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF="blog_django_urls",
    SECRET_KEY="route-table-tests-only",
    MIDDLEWARE=["blog_django.XRule", "django.middleware.common.CommonMiddleware"],
    INSTALLED_APPS=[],
    APPEND_SLASH=True,
)
django.setup()


class XRule:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        resp = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match is not None:  # absent on a 404 and on APPEND_SLASH's redirect
            resp["X-Rule"] = match.route
        return resp


from django.core.wsgi import get_wsgi_application  # noqa: E402  (after settings, as Django asks)

application = get_wsgi_application()
