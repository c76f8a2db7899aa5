"""The WSGI entry point. django.setup() configures the settings but imports no urlconf: Django
imports ROOT_URLCONF when it resolves the first request."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "routes_djsite.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
