"""A Django site whose URL patterns pyvitals reads from outside (issue #14): every kind of
include() and pattern Django 3.2 has, served by gunicorn as routes_djsite.wsgi:application."""
