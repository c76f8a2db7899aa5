"""Just enough settings to serve the views: no apps, no database, no middleware."""
SECRET_KEY = "routes-djsite-test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "routes_djsite.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_I18N = True   # i18n_patterns needs it; its routes are the ones the reader skips
USE_TZ = True
