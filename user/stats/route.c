/* Route templating: decides per path segment whether it is an identifier (numbers, UUIDs,
 * hashes, opaque tokens, long percent-encoded blobs) and replaces those with "{id}". Short
 * mixed words ("v1", "v2beta", "2fa") are kept: they are part of the route, not data. */
#include "route.h"
#include <string.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_lower(char c) { return c >= 'a' && c <= 'z'; }

static int is_hex(char c)
{
	return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* [+-]digits[.digits] or [+-].digits: a signed or decimal number. */
static int is_number(const char *s, size_t n)
{
	size_t i = 0, digits = 0, dots = 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	for (; i < n; i++) {
		if (is_digit(s[i]))
			digits++;
		else if (s[i] == '.' && !dots++)
			continue;
		else
			return 0;
	}
	return digits > 0;
}

static int is_uuid(const char *s, size_t n)
{
	if (n != 36)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !is_hex(s[i]))
			return 0;
	}
	return 1;
}

/* Hashes and hex ids: >= 8 hex chars with a digit ("deadbeef" alone stays a word). */
static int is_hex_id(const char *s, size_t n)
{
	int digit = 0;
	if (n < 8)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_hex(s[i]))
			return 0;
		digit |= is_digit(s[i]);
	}
	return digit;
}

/* Opaque tokens (base64url/base62-ish): >= 16 chars mixing letters and digits. A slug made of
 * short or lower-case words between '-'/'_' ("oauth2-callback-handler") is still a name. */
static int is_token(const char *s, size_t n)
{
	int alpha = 0, digit = 0, wordy = 1;
	size_t part = 0, part_upper = 0;
	if (n < 16)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : '-';
		if (c == '-' || c == '_') {
			if (part >= 8 && part_upper)
				wordy = 0;
			part = part_upper = 0;
			continue;
		}
		if (is_digit(c))
			digit = 1;
		else if (is_alpha(c))
			alpha = 1;
		else if (c != '=' && c != '+' && c != '~' && c != '.')
			return 0;
		/* A long part that is not plain lower-case letters reads as random. */
		if (!is_lower(c))
			part_upper = 1;
		part++;
	}
	return alpha && digit && !wordy;
}

/* Mostly %XX escapes and long: an encoded blob (e.g. an e-mail address or a key). */
static int is_escaped_blob(const char *s, size_t n)
{
	size_t esc = 0;
	if (n < 16)
		return 0;
	for (size_t i = 0; i + 2 < n; i++) {
		if (s[i] == '%' && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
			esc += 3;
			i += 2;
		}
	}
	return esc * 2 >= n;
}

int route_segment_is_id(const char *s, size_t n)
{
	return n && (is_number(s, n) || is_uuid(s, n) || is_hex_id(s, n) || is_token(s, n) ||
	             is_escaped_blob(s, n));
}

/* Append n bytes, keeping out NUL-terminated and within outlen. */
static void put(char *out, size_t outlen, size_t *len, const char *s, size_t n)
{
	if (*len + n >= outlen)
		n = outlen - 1 - *len;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = 0;
}

char *route_template(const char *path, char *out, size_t outlen)
{
	size_t len = 0;
	if (!out || !outlen)
		return out;
	out[0] = 0;
	if (!path)
		path = "";
	size_t plen = strcspn(path, "?#");
	if (plen && path[0] != '/') {
		put(out, outlen, &len, path, plen);
		return out;
	}
	for (size_t i = 0; i < plen;) {
		while (i < plen && path[i] == '/')
			i++;
		size_t j = i;
		while (j < plen && path[j] != '/')
			j++;
		if (j == i)
			break; /* only slashes left: the trailing slash is written below */
		put(out, outlen, &len, "/", 1);
		if (route_segment_is_id(path + i, j - i))
			put(out, outlen, &len, "{id}", 4);
		else
			put(out, outlen, &len, path + i, j - i);
		i = j;
	}
	if (!len || (plen && path[plen - 1] == '/'))
		put(out, outlen, &len, "/", 1);
	return out;
}
