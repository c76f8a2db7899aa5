"""The site's own truth, from Django itself: for every endpoint in Django's order, the regex
Django compiled at each include() level (pattern.regex.pattern) and the route Django reports
for an example path (resolve(example).route, what ResolverMatch.route says)."""
import json
import os
import sys

import django
from django.urls import get_resolver, resolve
from django.urls.resolvers import LocalePrefixPattern, URLResolver

UUID = "12345678-1234-5678-1234-567812345678"
EXAMPLES = {
    "home": "/", "blog-index": "/blog/", "blog-article": "/blog/articles/2024/hello-world/",
    "blog-archive": "/blog/archive/2020/", "blog-escaped": "/blog/a.b-c+(d)~/", "blog-deep": "/blog/deep/er/x/7",
    "shop-item": "/shop/item/3/", "shop-cat": "/shop/cat/tea-pots/", "team": f"/team/{UUID}/",
    "team-file": f"/team/{UUID}/files/a/b.txt", "api-item": "/api/v2/items/pen/", "api-items": "/api/v2/items/",
    "api-raw": "/api/v2/raw/abc", "archive": "/archive/1999/", "about": "/about/", "legal": "/legal/",
    "user": "/users/ann/",
}


def walk(patterns, chain, out):
    """Endpoints below patterns; returns how many sit below an i18n_patterns prefix."""
    skipped = 0
    for p in patterns:
        if isinstance(p.pattern, LocalePrefixPattern):
            skipped += sum(1 for _ in leaves(p))
            continue
        here = chain + [p.pattern.regex.pattern]
        if isinstance(p, URLResolver):
            skipped += walk(p.url_patterns, here, out)
            continue
        match = resolve(EXAMPLES[p.name])
        assert match.url_name == p.name, (p.name, EXAMPLES[p.name], match.url_name)
        out.append({"name": match.route or "/", "parts": here})
    return skipped


def leaves(p):
    if isinstance(p, URLResolver):
        for q in p.url_patterns:
            yield from leaves(q)
    else:
        yield p


def write(path):
    routes = []
    skipped = walk(get_resolver().url_patterns, [], routes)
    with open(path + ".tmp", "w") as f:
        json.dump({"routes": routes, "skipped": skipped, "python": sys.version.split()[0],
                   "django": django.get_version()}, f, indent=1)
    os.rename(path + ".tmp", path)
