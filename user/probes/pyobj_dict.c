/* Dicts (combined and split tables, 3.8-3.13) and attributes (instance dict in its four
 * layouts, then the class MRO). See pyobj.h and docs/design/routes.md 1.2. */
#include "pyobj_int.h"
#include <errno.h>
#include <string.h>

/* Keys object: where its entries start, their size, how many, and where key/value sit. */
struct keys_info {
	uint64_t entries, n;
	unsigned esize, koff, voff;
};

static int keys_info(struct pyproc *p, uint64_t keys, struct keys_info *k)
{
	int r;

	if (p->minor <= 10) {
		/* dk_size +8, dk_nentries +32, indices +40 of 1/2/4/8 B; entries {hash, key, value} */
		uint64_t size;
		unsigned w;

		if ((r = rd_u64(p, keys + 8, &size)) || (r = rd_u64(p, keys + 32, &k->n)))
			return r;
		if (size > (1 << 24) || (size & (size - 1)))
			return -EPROTO;
		w = size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
		k->entries = keys + 40 + size * w;
		k->esize = 24, k->koff = 8, k->voff = 16;
	} else {
		/* dk_log2_index_bytes +9, dk_kind +10, dk_nentries +24, indices +32; kind 0 (general)
		 * has {hash, key, value}, unicode and split kinds {key, value} */
		unsigned char b[2];

		if ((r = pyobj_read(p, keys + 9, b, 2)) || (r = rd_u64(p, keys + 24, &k->n)))
			return r;
		if (b[0] > 27 || b[1] > 2)
			return -EPROTO;
		k->entries = keys + 32 + (1ULL << b[0]);
		if (b[1] == 0)
			k->esize = 24, k->koff = 8, k->voff = 16;
		else
			k->esize = 16, k->koff = 0, k->voff = 8;
	}
	return k->n > PYOBJ_SEQ_MAX ? -E2BIG : 0;
}

/* The split-table order: order[j] is the entry index of the j-th value inserted. 3.8-3.10
 * keep entry order; 3.11/3.12 store a count byte at values-2 and the indices growing down from
 * values-3; 3.13 a {capacity, size, embedded, valid} header and the indices after the values. */
static int split_order(struct pyproc *p, uint64_t values, uint64_t nentries, unsigned char *order, int *count,
		       uint64_t *array)
{
	unsigned char hdr[4], rev[256];
	int r;

	if (p->minor <= 10) {
		if (nentries > 256)
			return -E2BIG;
		for (uint64_t i = 0; i < nentries; i++)
			order[i] = (unsigned char)i;
		*count = (int)nentries;
		*array = values;
		return 0;
	}
	if (p->minor <= 12) {
		if ((r = pyobj_read(p, values - 2, hdr, 1)))
			return r;
		*count = hdr[0];
		if ((r = pyobj_read(p, values - 2 - hdr[0], rev, hdr[0])))
			return r;
		for (int j = 0; j < *count; j++)
			order[j] = rev[*count - 1 - j];
		*array = values;
		return 0;
	}
	if ((r = pyobj_read(p, values, hdr, 4)))
		return r;
	if (hdr[1] > hdr[0])
		return -EPROTO;
	*count = hdr[1];
	*array = values + 8;
	return pyobj_read(p, values + 8 + 8ULL * hdr[0], order, hdr[1]);
}

/* Walk keys with values (split) or the entries' own values (combined, values = 0). */
static int kv_walk(struct pyproc *p, uint64_t keys, uint64_t values, pyobj_dict_cb cb, void *arg)
{
	struct keys_info k;
	uint64_t e[3], v;
	int r;

	if ((r = keys_info(p, keys, &k)))
		return r;
	if (values) {
		unsigned char order[256];
		uint64_t array;
		int count;

		if ((r = split_order(p, values, k.n, order, &count, &array)))
			return r;
		for (int j = 0; j < count; j++) {
			if (order[j] >= k.n)
				return -EPROTO;
			if ((r = rd_u64(p, k.entries + order[j] * (uint64_t)k.esize + k.koff, &e[0])) ||
			    (r = rd_u64(p, array + 8ULL * order[j], &v)))
				return r;
			if (e[0] && v && (r = cb(p, e[0], v, arg)))
				return r;
		}
		return 0;
	}
	for (uint64_t i = 0; i < k.n; i++) {
		if ((r = pyobj_read(p, k.entries + i * k.esize, e, k.esize)))
			return r;
		v = e[k.voff / 8];
		if (e[k.koff / 8] && v && (r = cb(p, e[k.koff / 8], v, arg)))
			return r;
	}
	return 0;
}

int pyobj_dict_walk(struct pyproc *p, uint64_t dict, pyobj_dict_cb cb, void *arg)
{
	uint64_t keys, values;
	int r;

	if (!pyobj_isinstance(p, dict, p->t_dict))
		return -EINVAL;
	if ((r = rd_u64(p, dict + DICT_KEYS, &keys)) || (r = rd_u64(p, dict + DICT_VALUES, &values)))
		return r;
	return kv_walk(p, keys, values, cb, arg);
}

struct get_arg {
	const char *key;
	size_t klen;
	uint64_t value;
};

static int match_key(struct pyproc *p, uint64_t key, uint64_t value, void *arg)
{
	struct get_arg *g = arg;
	char s[256];

	if (g->klen >= sizeof(s) || pyobj_str(p, key, s, g->klen + 2) || strcmp(s, g->key))
		return 0;
	g->value = value;
	return 1;
}

static int kv_get(struct pyproc *p, uint64_t keys, uint64_t values, uint64_t dict, const char *key,
		  uint64_t *value)
{
	struct get_arg g = { key, strlen(key), 0 };
	int r = dict ? pyobj_dict_walk(p, dict, match_key, &g) : kv_walk(p, keys, values, match_key, &g);

	if (r == 1) {
		*value = g.value;
		return 0;
	}
	return r ? r : -ENOENT;
}

int pyobj_dict_get(struct pyproc *p, uint64_t dict, const char *key, uint64_t *value)
{
	return kv_get(p, 0, 0, dict, key, value);
}

/* Where obj's own attributes are: a dict, or split values with the type's cached keys. */
static int instance_dict(struct pyproc *p, uint64_t obj, uint64_t *dict, uint64_t *keys, uint64_t *values)
{
	uint64_t ty = pyobj_type(p, obj), flags, w;
	int64_t off;
	int r;

	*dict = *keys = *values = 0;
	if (!ty)
		return -EFAULT;
	if ((r = rd_u64(p, ty + TP_FLAGS, &flags)))
		return r;
	if (p->minor >= 11 && (flags & PY_TPFLAGS_MANAGED_DICT)) {
		uint64_t cached = ty + (uint64_t)p->cache->lay->ht_cached_keys;

		if ((r = rd_u64(p, obj - 24, &w)))
			return r;
		if (p->minor == 12 && (w & 1)) { /* tagged PyDictOrValues: values - 1 */
			*values = w + 1;
			return rd_u64(p, cached, keys);
		}
		if (w) {
			*dict = w;
			return 0;
		}
		if (p->minor == 11) {
			if ((r = rd_u64(p, obj - 32, values)) || !*values)
				return r ? r : -ENOENT;
			return rd_u64(p, cached, keys);
		}
		if (p->minor >= 13 && (flags & PY_TPFLAGS_INLINE_VALUES)) {
			unsigned char valid;
			uint64_t basic;

			if ((r = rd_u64(p, ty + TP_BASICSIZE, &basic)) || basic > 1 << 20 ||
			    (r = pyobj_read(p, obj + basic + 3, &valid, 1)))
				return r ? r : -EPROTO;
			if (!valid)
				return -ENOENT;
			*values = obj + basic;
			return rd_u64(p, cached, keys);
		}
		return -ENOENT;
	}
	if ((r = pyobj_read(p, ty + TP_DICTOFFSET, &off, 8)))
		return r;
	if (off <= 0) /* none, or at the end of a variable-size object: not for route objects */
		return off ? -ENOTSUP : -ENOENT;
	if ((r = rd_u64(p, obj + (uint64_t)off, dict)))
		return r;
	return *dict ? 0 : -ENOENT;
}

int pyobj_attr(struct pyproc *p, uint64_t obj, const char *name, uint64_t *value)
{
	uint64_t dict, keys, values, mro, types[64], tdict;
	int n, r;

	if (!instance_dict(p, obj, &dict, &keys, &values) &&
	    !(r = kv_get(p, keys, values, dict, name, value)))
		return 0;
	if ((r = rd_u64(p, pyobj_type(p, obj) + TP_MRO, &mro)))
		return r;
	if (!mro || (r = pyobj_seq(p, mro, types, 64, &n)))
		return r ? r : -ENOENT;
	for (int i = 0; i < n && i < 64; i++)
		if (!rd_u64(p, types[i] + TP_DICT, &tdict) && tdict && !pyobj_dict_get(p, tdict, name, value))
			return 0;
	return -ENOENT;
}

int pyobj_attr_str(struct pyproc *p, uint64_t obj, const char *name, char *out, size_t outlen)
{
	uint64_t v;
	int r;

	if ((r = pyobj_attr(p, obj, name, &v)))
		return r;
	return pyobj_str(p, v, out, outlen);
}
