/* SPDX-License-Identifier: Apache-2.0 */
/* JSON-lines writer: see json.h for why escaping is this strict.
 *
 * Speed matters here: palisade-sensor writes one line per kernel event, and
 * at tens of thousands of events a second the first version (a memcpy per
 * output byte, snprintf per number, gmtime+strftime per timestamp) cost more
 * CPU per event than the kernel side. So: room is reserved once per item and
 * bytes are stored directly, runs of plain ASCII are copied as a block,
 * numbers are formatted by hand, and the date part of a timestamp is
 * formatted once per second. The output is byte-for-byte what it was
 * (test/sensor/jsonWriter.test.ts checks it against a model of the rules). */
#include "json.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Makes room for n more bytes (and the final NUL-free "}\n" of jb_line: +2 below). */
static void reserve(struct jb *j, size_t n)
{
	if (j->len + n + 3 <= j->cap)
		return;
	size_t cap = j->cap ? j->cap : 1024;
	while (cap < j->len + n + 3)
		cap *= 2;
	char *b = realloc(j->buf, cap);
	if (!b)
		abort(); /* out of memory in a few-KiB line: nothing sensible to do */
	j->buf = b;
	j->cap = cap;
}

static void put(struct jb *j, const char *s, size_t n)
{
	reserve(j, n);
	memcpy(j->buf + j->len, s, n);
	j->len += n;
}

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

static const char HEX[] = "0123456789abcdef";

static void quoted(struct jb *j, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	/* Worst case: every byte becomes a 6-byte escape; plus the quotes. */
	reserve(j, n * 6 + 2);
	char *o = j->buf + j->len;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			*o++ = (char)c;
			i++;
		} else if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(o, "\\u00", 4);
			o[4] = HEX[c >> 4];
			o[5] = HEX[c & 15];
			o += 6;
			i++;
		} else {
			size_t l = utf8_len(u + i, n - i);
			if (l == 0) {
				memcpy(o, "\\ufffd", 6);
				o += 6;
				i++;
			} else {
				memcpy(o, s + i, l);
				o += l;
				i += l;
			}
		}
	}
	*o++ = '"';
	j->len = (size_t)(o - j->buf);
}

/* Keys are string literals of this program (plain ASCII names): written as they are. */
static void key(struct jb *j, const char *k)
{
	size_t n = k ? strlen(k) : 0;
	reserve(j, n + 4);
	char *o = j->buf + j->len;
	if (j->comma[j->depth])
		*o++ = ',';
	j->comma[j->depth] = 1;
	if (k) {
		*o++ = '"';
		memcpy(o, k, n);
		o += n;
		*o++ = '"';
		*o++ = ':';
	}
	j->len = (size_t)(o - j->buf);
}

/* Decimal digits of v, written backwards into the end of b; returns the first. */
static char *digits(char *end, unsigned long long v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

void jb_begin(struct jb *j, const char *type, const char *source)
{
	j->len = 0;
	j->depth = 0;
	j->comma[0] = 0;
	put(j, "{", 1);
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
	char b[24], *e = b + sizeof(b);
	/* -(v + 1) + 1 avoids overflowing on LLONG_MIN. */
	char *p = v < 0 ? digits(e, (unsigned long long)(-(v + 1)) + 1) : digits(e, (unsigned long long)v);
	if (v < 0)
		*--p = '-';
	key(j, k);
	put(j, p, (size_t)(e - p));
}

void jb_uint(struct jb *j, const char *k, unsigned long long v)
{
	char b[24], *e = b + sizeof(b);
	char *p = digits(e, v);
	key(j, k);
	put(j, p, (size_t)(e - p));
}

void jb_u64str(struct jb *j, const char *k, uint64_t v)
{
	char b[24], *e = b + sizeof(b);
	char *p = digits(e - 1, v);
	e[-1] = '"';
	*--p = '"';
	key(j, k);
	put(j, p, (size_t)(e - p));
}

void jb_bool(struct jb *j, const char *k, int v)
{
	key(j, k);
	put(j, v ? "true" : "false", v ? 4 : 5);
}

void jb_time(struct jb *j, const char *k, uint64_t ns)
{
	/* "YYYY-MM-DDTHH:MM:SS" of the last second formatted (events come in time order). */
	static time_t last_sec = (time_t)-1;
	static char date[32];
	static size_t date_len;
	time_t sec = ns / 1000000000ull;
	if (sec != last_sec) {
		struct tm tm;
		gmtime_r(&sec, &tm);
		date_len = strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
		last_sec = sec;
	}
	char b[48];
	memcpy(b, date, date_len);
	char *o = b + date_len;
	*o++ = '.';
	unsigned long long frac = ns % 1000000000ull;
	for (int i = 8; i >= 0; i--) {
		o[i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	o += 9;
	*o++ = 'Z';
	key(j, k);
	quoted(j, b, (size_t)(o - b));
}

static void open_(struct jb *j, const char *k, char c)
{
	key(j, k);
	put(j, &c, 1);
	if (j->depth + 1 < JB_MAX_DEPTH)
		j->depth++;
	j->comma[j->depth] = 0;
}

void jb_arr_begin(struct jb *j, const char *k) { open_(j, k, '['); }
void jb_obj_begin(struct jb *j, const char *k) { open_(j, k, '{'); }
void jb_arr_end(struct jb *j) { put(j, "]", 1); if (j->depth) j->depth--; }
void jb_obj_end(struct jb *j) { put(j, "}", 1); if (j->depth) j->depth--; }

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
