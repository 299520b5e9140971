/* SPDX-License-Identifier: Apache-2.0 */
/* JSON-lines writer: see json.h for why escaping is this strict. */
#include "json.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void put(struct jb *j, const char *s, size_t n)
{
	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 1024;
		while (cap < j->len + n + 1)
			cap *= 2;
		char *b = realloc(j->buf, cap);
		if (!b)
			abort(); /* out of memory in a 2-KiB line: nothing sensible to do */
		j->buf = b;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
}

static void putc_(struct jb *j, char c) { put(j, &c, 1); }

/* Length of the valid UTF-8 sequence at s (max n bytes), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) { len = 2; cp = s[0] & 0x1f; }
	else if ((s[0] & 0xf0) == 0xe0) { len = 3; cp = s[0] & 0x0f; }
	else if ((s[0] & 0xf8) == 0xf0) { len = 4; cp = s[0] & 0x07; }
	else return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and values past U+10FFFF. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static void quoted(struct jb *j, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	putc_(j, '"');
	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		if (c == '"' || c == '\\') {
			putc_(j, '\\');
			putc_(j, c);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			char esc[8];
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(j, esc, 6);
			i++;
		} else {
			size_t l = utf8_len(u + i, n - i);
			if (l == 0) {
				put(j, "\\ufffd", 6);
				i++;
			} else {
				put(j, s + i, l);
				i += l;
			}
		}
	}
	putc_(j, '"');
}

static void key(struct jb *j, const char *k)
{
	if (j->comma[j->depth])
		putc_(j, ',');
	j->comma[j->depth] = 1;
	if (k) {
		quoted(j, k, strlen(k));
		putc_(j, ':');
	}
}

void jb_begin(struct jb *j, const char *type, const char *source)
{
	j->len = 0;
	j->depth = 0;
	j->comma[0] = 0;
	putc_(j, '{');
	jb_str(j, "type", type);
	if (source)
		jb_str(j, "source", source);
}

void jb_str(struct jb *j, const char *k, const char *s) { jb_strn(j, k, s, strlen(s)); }

void jb_strn(struct jb *j, const char *k, const char *s, size_t n)
{
	key(j, k);
	quoted(j, s, strnlen(s, n));
}

void jb_int(struct jb *j, const char *k, long long v)
{
	char b[32];
	key(j, k);
	put(j, b, snprintf(b, sizeof(b), "%lld", v));
}

void jb_uint(struct jb *j, const char *k, unsigned long long v)
{
	char b[32];
	key(j, k);
	put(j, b, snprintf(b, sizeof(b), "%llu", v));
}

void jb_u64str(struct jb *j, const char *k, uint64_t v)
{
	char b[32];
	key(j, k);
	put(j, b, snprintf(b, sizeof(b), "\"%llu\"", (unsigned long long)v));
}

void jb_bool(struct jb *j, const char *k, int v)
{
	key(j, k);
	put(j, v ? "true" : "false", v ? 4 : 5);
}

void jb_time(struct jb *j, const char *k, uint64_t ns)
{
	char b[48];
	struct tm tm;
	time_t sec = ns / 1000000000ull;
	gmtime_r(&sec, &tm);
	size_t n = strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(b + n, sizeof(b) - n, ".%09lluZ", (unsigned long long)(ns % 1000000000ull));
	key(j, k);
	quoted(j, b, n);
}

static void open_(struct jb *j, const char *k, char c)
{
	key(j, k);
	putc_(j, c);
	if (j->depth + 1 < JB_MAX_DEPTH)
		j->depth++;
	j->comma[j->depth] = 0;
}

void jb_arr_begin(struct jb *j, const char *k) { open_(j, k, '['); }
void jb_obj_begin(struct jb *j, const char *k) { open_(j, k, '{'); }
void jb_arr_end(struct jb *j) { putc_(j, ']'); if (j->depth) j->depth--; }
void jb_obj_end(struct jb *j) { putc_(j, '}'); if (j->depth) j->depth--; }

void jb_arr_strn(struct jb *j, const char *s, size_t n)
{
	key(j, NULL);
	quoted(j, s, strnlen(s, n));
}

int jb_line(struct jb *j, FILE *out)
{
	put(j, "}\n", 2);
	return fwrite(j->buf, 1, j->len, out) == j->len ? 0 : -1;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

uint64_t realtime_ns(void) { return clock_ns(CLOCK_REALTIME); }
uint64_t monotonic_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
