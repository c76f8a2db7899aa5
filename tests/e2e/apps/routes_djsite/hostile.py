"""ROUTES_HOSTILE=loop[,odd][,noversion]: after the first request, objects a reader outside must survive are
added to the root urlpatterns, standing in for memory freed and reused while it reads:
- loop: an object whose type's tp_mro points to the object itself, not to a tuple (asking
  whether it is a list subclass through tp_mro then never ends);
- odd: a path() whose _route is an int;
- noversion: django.__version__ deleted (the reader falls back on django.VERSION).
CPython never touches them: no request is served after they are added."""
import ctypes

from django.urls import path

TP_MRO = 344   # offsetof(PyTypeObject, tp_mro), 3.8-3.13 x86_64 (docs/design/routes.md 1.2)


class Loop:
    pass


KEEP = []


def start(urls, view, what):
    added = []
    if "loop" in what:
        loop = Loop()
        KEEP.append((loop, Loop.__mro__))   # the real MRO tuple stays alive
        ctypes.c_void_p.from_address(id(Loop) + TP_MRO).value = id(loop)
        added.append(loop)
    if "odd" in what:
        odd = path("odd/", view)
        odd.pattern._route = 42
        added.append(odd)
    if "noversion" in what:
        import django
        del django.__version__
    urls.urlpatterns[1:1] = added
