/* Reading another process's Python objects: attach, page cache, scalars, sequences, sets,
 * modules and the GC lists. Dicts and attributes are in pyobj_dict.c. See pyobj.h. */
#include "pyobj_int.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* offsetof() on each pyenv version's headers, used live on each (docs/design/routes.md 1.1). */
static const struct pyobj_layout layouts[] = {
	/* minor head modules sysdict gc_gens gc_rt cached_keys ascii data */
	{ 8, 32, 56, 72, 368, true, 872, 48, 72 },
	{ 9, 32, 856, 872, 640, false, 864, 48, 72 },
	{ 10, 32, 856, 872, 640, false, 872, 48, 72 },
	{ 11, 40, 888, 904, 672, false, 872, 48, 72 },
	{ 12, 40, 944, 352, 136, false, 880, 40, 56 },
	{ 13, 632, 7656, 7640, 7424, false, 880, 40, 56 },
};

const struct pyobj_layout *pyobj_layout_for(int minor)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].minor == minor)
			return &layouts[i];
	return NULL;
}

int pyobj_debug_offsets(const unsigned char *buf, size_t len, uint64_t *version, int *interp_head,
			int *interp_modules, int *interp_sysdict)
{
	uint64_t v[13];

	/* cookie, version, free_threaded, runtime_state{size, finalizing, interpreters_head},
	 * interpreter_state{size, id, next, threads_head, gc, imports_modules, sysdict} */
	if (len < sizeof(v) || memcmp(buf, "xdebugpy", 8))
		return -EINVAL;
	memcpy(v, buf, sizeof(v));
	*version = v[1];
	if (v[2])
		return -ENOTSUP;
	if (v[5] > 1 << 20 || v[11] > 1 << 20 || v[12] > 1 << 20)
		return -EINVAL;
	*interp_head = (int)v[5];
	*interp_modules = (int)v[11];
	*interp_sysdict = (int)v[12];
	return 0;
}

int pyobj_utf8(const void *data, size_t n, int kind, char *out, size_t outlen)
{
	const unsigned char *b = data;
	size_t o = 0;

	if (kind != 1 && kind != 2 && kind != 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = kind == 1 ? b[i] : kind == 2 ? (uint32_t)(b[2 * i] | b[2 * i + 1] << 8)
			   : (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 |
				     (uint32_t)b[4 * i + 3] << 24;
		unsigned char u[4];
		int k;

		if (c < 0x80) {
			u[0] = (unsigned char)c, k = 1;
		} else if (c < 0x800) {
			u[0] = 0xc0 | c >> 6, u[1] = 0x80 | (c & 0x3f), k = 2;
		} else if (c < 0x10000) {
			/* Lone surrogates (Python allows them) are written as is, like surrogatepass. */
			u[0] = 0xe0 | c >> 12, u[1] = 0x80 | (c >> 6 & 0x3f), u[2] = 0x80 | (c & 0x3f), k = 3;
		} else if (c < 0x110000) {
			u[0] = 0xf0 | c >> 18, u[1] = 0x80 | (c >> 12 & 0x3f), u[2] = 0x80 | (c >> 6 & 0x3f);
			u[3] = 0x80 | (c & 0x3f), k = 4;
		} else {
			return -EILSEQ;
		}
		if (o + (size_t)k >= outlen)
			return -E2BIG;
		memcpy(out + o, u, (size_t)k);
		o += (size_t)k;
	}
	if (o >= outlen)
		return -E2BIG;
	out[o] = 0;
	return 0;
}

/* ---- reads ---- */

static int page_get(struct pyproc *p, uint64_t page, const unsigned char **data)
{
	struct pyobj_cache *c = p->cache;
	unsigned slot = (unsigned)(page / PYOBJ_PAGE) % PYOBJ_SLOTS;
	int r;

	if (c->tag[slot] == page + 1) {
		*data = c->page[slot];
		return 0;
	}
	if (!c->page[slot] && !(c->page[slot] = malloc(PYOBJ_PAGE)))
		return -ENOMEM;
	c->tag[slot] = 0;
	p->reads++;
	if ((r = pyinfo_read(p->pi.pid, page, c->page[slot], PYOBJ_PAGE)))
		return r;
	c->tag[slot] = page + 1;
	*data = c->page[slot];
	return 0;
}

int pyobj_read(struct pyproc *p, uint64_t addr, void *buf, size_t len)
{
	unsigned char *o = buf;

	/* NULL and kernel-half pointers are torn or foreign data, not something to ask the kernel. */
	if (addr < PYOBJ_PAGE || addr + len < addr || addr + len > 0x800000000000ULL)
		return -EFAULT;
	while (len) {
		uint64_t page = addr & ~(uint64_t)(PYOBJ_PAGE - 1), off = addr - page;
		size_t n = PYOBJ_PAGE - off < len ? PYOBJ_PAGE - off : len;
		const unsigned char *d;
		int r;

		if ((r = page_get(p, page, &d)))
			return r;
		memcpy(o, d + off, n);
		o += n, addr += n, len -= n;
	}
	return 0;
}

void pyproc_flush(struct pyproc *p)
{
	if (p->cache)
		memset(p->cache->tag, 0, sizeof(p->cache->tag));
}

uint64_t pyobj_type(struct pyproc *p, uint64_t obj)
{
	uint64_t t;

	return rd_u64(p, obj + OB_TYPE, &t) ? 0 : t;
}

bool pyobj_isinstance(struct pyproc *p, uint64_t obj, uint64_t t)
{
	uint64_t ty = pyobj_type(p, obj), mro, items[64];
	int n;

	if (!ty || !t)
		return false;
	if (ty == t)
		return true;
	/* A type whose tp_mro is not set yet (seen on 3.8/3.9 module globals) just isn't one. CPython's
	 * tp_mro is always an exact tuple: anything else is torn memory, and asking pyobj_seq whether
	 * it is a list subclass would recurse through its type's tp_mro without end. */
	if (rd_u64(p, ty + TP_MRO, &mro) || !mro || pyobj_type(p, mro) != p->t_tuple ||
	    pyobj_seq(p, mro, items, 64, &n))
		return false;
	for (int i = 0; i < n && i < 64; i++)
		if (items[i] == t)
			return true;
	return false;
}

int pyobj_type_name(struct pyproc *p, uint64_t type, char *out, size_t outlen)
{
	uint64_t name;
	size_t i;
	int r;

	if (!outlen)
		return -E2BIG;
	if ((r = rd_u64(p, type + TP_NAME, &name)))
		return r;
	for (i = 0; i + 1 < outlen; i++) {
		if ((r = pyobj_read(p, name + i, &out[i], 1)))
			return r;
		if (!out[i])
			return 0;
	}
	out[i] = 0;
	return -E2BIG;
}

int pyobj_str(struct pyproc *p, uint64_t obj, char *out, size_t outlen)
{
	const struct pyobj_layout *l = p->cache->lay;
	unsigned char buf[PYOBJ_STR_MAX * 4];
	uint64_t len;
	uint32_t state;
	int kind, r;

	if (!outlen)
		return -E2BIG;
	out[0] = 0;
	if (!pyobj_isinstance(p, obj, p->t_str))
		return -EINVAL;
	if ((r = rd_u64(p, obj + STR_LENGTH, &len)) || (r = pyobj_read(p, obj + STR_STATE, &state, 4)))
		return r;
	kind = state >> 2 & 7;
	if (!(state & 1 << 5)) /* legacy (non-compact) strings do not hold route text */
		return -ENOTSUP;
	if (len > PYOBJ_STR_MAX)
		return -E2BIG;
	if (state & 1 << 6) { /* ASCII */
		if (len >= outlen)
			return -E2BIG;
		if ((r = pyobj_read(p, obj + (uint64_t)l->str_ascii, out, len)))
			return r;
		out[len] = 0;
		return memchr(out, 0, len) || strlen(out) != len ? -EILSEQ : 0;
	}
	if (kind != 1 && kind != 2 && kind != 4)
		return -EINVAL;
	if ((r = pyobj_read(p, obj + (uint64_t)l->str_data, buf, len * (size_t)kind)))
		return r;
	return pyobj_utf8(buf, len, kind, out, outlen);
}

int pyobj_long(struct pyproc *p, uint64_t obj, int64_t *out)
{
	uint64_t tag, ndig;
	uint32_t d[3];
	bool neg;
	uint64_t v = 0;
	int r;

	if (!pyobj_isinstance(p, obj, p->t_int))
		return -EINVAL;
	if ((r = rd_u64(p, obj + OB_SIZE, &tag)))
		return r;
	if (p->minor >= 12) { /* lv_tag: ndigits << 3 | sign (0 +, 1 zero, 2 -) */
		ndig = tag >> 3;
		neg = (tag & 3) == 2;
	} else {
		neg = (int64_t)tag < 0;
		ndig = neg ? (uint64_t)(-(int64_t)tag) : tag;
	}
	if (ndig > 2) /* 30-bit digits: two hold 60 bits, enough for flags and small numbers */
		return -ERANGE;
	if (ndig && (r = pyobj_read(p, obj + 24, d, ndig * 4)))
		return r;
	for (uint64_t i = ndig; i > 0; i--)
		v = v << 30 | (d[i - 1] & 0x3fffffff);
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

bool pyobj_is_none(struct pyproc *p, uint64_t obj)
{
	return obj && obj == p->none;
}

int pyobj_pattern_str(struct pyproc *p, uint64_t obj, char *out, size_t outlen)
{
	char tn[32];
	uint64_t s;
	int r;

	if ((r = pyobj_type_name(p, pyobj_type(p, obj), tn, sizeof(tn))))
		return r;
	if (strcmp(tn, "re.Pattern") && strcmp(tn, "_sre.SRE_Pattern"))
		return -EINVAL;
	if ((r = rd_u64(p, obj + PATTERN_STR, &s)))
		return r;
	return pyobj_str(p, s, out, outlen);
}

int pyobj_seq(struct pyproc *p, uint64_t obj, uint64_t *items, int max, int *n)
{
	uint64_t ty = pyobj_type(p, obj), size, base;
	int r;

	*n = 0;
	if (!ty)
		return -EFAULT;
	if (ty == p->t_list || (ty != p->t_tuple && pyobj_isinstance(p, obj, p->t_list))) {
		if ((r = rd_u64(p, obj + LIST_ITEMS, &base)))
			return r;
	} else if (ty == p->t_tuple || pyobj_isinstance(p, obj, p->t_tuple)) {
		base = obj + TUPLE_ITEMS;
	} else {
		return -EINVAL;
	}
	if ((r = rd_u64(p, obj + OB_SIZE, &size)))
		return r;
	if (size > PYOBJ_SEQ_MAX)
		return -E2BIG;
	*n = (int)size;
	if (max < 0)
		max = 0;
	if (size > (uint64_t)max)
		size = (uint64_t)max;
	return size ? pyobj_read(p, base, items, size * 8) : 0;
}

int pyobj_set(struct pyproc *p, uint64_t obj, uint64_t *keys, int max, int *n)
{
	uint64_t mask, table, e[2];
	int r;

	*n = 0;
	if (!pyobj_isinstance(p, obj, p->t_set) && !pyobj_isinstance(p, obj, p->t_frozenset))
		return -EINVAL;
	if ((r = rd_u64(p, obj + SET_MASK, &mask)) || (r = rd_u64(p, obj + SET_TABLE, &table)))
		return r;
	if (mask >= PYOBJ_SEQ_MAX || (mask & (mask + 1)))
		return -E2BIG;
	for (uint64_t i = 0; i <= mask; i++) {
		if ((r = pyobj_read(p, table + i * 16, e, sizeof(e))))
			return r;
		if (!e[0] || e[0] == p->cache->set_dummy)
			continue;
		if (*n < max)
			keys[*n] = e[0];
		(*n)++;
	}
	return 0;
}

int pyobj_module(struct pyproc *p, const char *name, uint64_t *module)
{
	return pyobj_dict_get(p, p->modules, name, module);
}

int pyobj_module_attr(struct pyproc *p, const char *module, const char *name, uint64_t *value)
{
	uint64_t m, d;
	int r;

	if ((r = pyobj_module(p, module, &m)))
		return r;
	if (!pyobj_isinstance(p, m, p->t_module))
		return pyobj_attr(p, m, name, value); /* a lazy or replaced module object */
	if ((r = rd_u64(p, m + MD_DICT, &d)))
		return r;
	return pyobj_dict_get(p, d, name, value);
}

int pyobj_gc_walk(struct pyproc *p, pyobj_obj_cb cb, void *arg)
{
	long count = 0;

	if (!p->gc_gens)
		return -ENOTSUP;
	/* generations 0-2 (24 B each: PyGC_Head, threshold, count), then generation0 (a pointer),
	 * then the permanent generation at +80. */
	for (int g = 0; g < 4; g++) {
		uint64_t head = p->gc_gens + (g < 3 ? (uint64_t)g * 24 : 80), gc;
		int r;

		if ((r = rd_u64(p, head, &gc)))
			return r;
		while ((gc &= ~(uint64_t)3) != head) {
			if (++count > PYOBJ_GC_MAX)
				return -E2BIG;
			if ((r = cb(p, gc + 16, arg)))
				return r;
			if ((r = rd_u64(p, gc, &gc)))
				return r;
		}
	}
	return 0;
}
