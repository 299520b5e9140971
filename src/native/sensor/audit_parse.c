/* SPDX-License-Identifier: Apache-2.0 */
/* Audit record parsing and per-serial grouping (see audit_parse.h). */
#include "audit_parse.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int audit_parse(int type, const char *text, size_t len, struct audit_record *r)
{
	unsigned long long sec, ms, serial;
	int consumed = 0;
	char stamp[64];
	size_t sl = len < sizeof(stamp) - 1 ? len : sizeof(stamp) - 1;
	memcpy(stamp, text, sl);
	stamp[sl] = 0;
	if (sscanf(stamp, "audit(%llu.%llu:%llu):%n", &sec, &ms, &serial, &consumed) != 3 || !consumed)
		return -1;
	const char *body = text + consumed;
	size_t blen = len - consumed;
	while (blen && *body == ' ')
		body++, blen--;
	while (blen && (body[blen - 1] == 0 || body[blen - 1] == '\n'))
		blen--;
	r->type = type;
	r->time_ms = sec * 1000 + ms;
	r->serial = serial;
	r->body = strndup(body, blen);
	return r->body ? 0 : -1;
}

/* Fields the kernel may hex-encode (audit_log_untrustedstring, audit_log_n_untrustedstring). */
static int untrusted_key(const char *key)
{
	static const char *const K[] = { "comm", "exe", "path", "name", "cwd", "proctitle", "dev", "cmd", NULL };
	for (int i = 0; K[i]; i++)
		if (!strcmp(key, K[i]))
			return 1;
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int audit_field(const char *body, const char *key, char *out, size_t n)
{
	size_t kl = strlen(key);
	const char *p = body;
	if (!n)
		return -1;
	while ((p = strstr(p, key))) {
		/* A whole key: at the start or after a space, and followed by '='. */
		if ((p == body || p[-1] == ' ') && p[kl] == '=')
			break;
		p += kl;
	}
	if (!p)
		return -1;
	const char *v = p + kl + 1;
	size_t len = 0;
	if (*v == '"') {
		const char *end = strchr(v + 1, '"');
		size_t vl = end ? (size_t)(end - v - 1) : strlen(v + 1);
		len = vl < n - 1 ? vl : n - 1;
		memcpy(out, v + 1, len);
	} else {
		size_t vl = strcspn(v, " ");
		int hex = untrusted_key(key) && vl >= 2 && vl % 2 == 0;
		for (size_t i = 0; hex && i < vl; i++)
			hex = isxdigit((unsigned char)v[i]);
		if (hex) {
			for (size_t i = 0; i + 1 < vl && len < n - 1; i += 2)
				out[len++] = (char)(hexval(v[i]) << 4 | hexval(v[i + 1]));
		} else {
			len = vl < n - 1 ? vl : n - 1;
			memcpy(out, v, len);
		}
	}
	out[len] = 0;
	return (int)len;
}

static int interesting_type(int type)
{
	return type == AUDIT_T_LANDLOCK_ACCESS || type == AUDIT_T_SECCOMP;
}

struct audit_event *audit_add(struct audit_pending *p, struct audit_record *r, uint64_t now_ns, int *done)
{
	struct audit_event *e = NULL;
	*done = 0;
	for (int i = 0; i < p->n; i++)
		if (p->ev[i].serial == r->serial)
			e = &p->ev[i];
	if (!e) {
		if (r->type == AUDIT_T_EOE || p->n == PENDING_MAX) {
			/* An EOE whose event we did not keep, or no room: drop the
			 * record (the caller expires old events to make room first). */
			free(r->body);
			return NULL;
		}
		e = &p->ev[p->n++];
		memset(e, 0, sizeof(*e));
		e->serial = r->serial;
		e->first_seen_ns = now_ns;
	}
	if (r->type == AUDIT_T_EOE) {
		free(r->body);
		*done = 1;
		return e;
	}
	if (e->nrec < EVENT_MAX_RECORDS)
		e->rec[e->nrec++] = *r;
	else
		free(r->body);
	e->interesting |= interesting_type(r->type);
	return e;
}

struct audit_event *audit_expire(struct audit_pending *p, uint64_t now_ns, uint64_t max_age_ns)
{
	struct audit_event *oldest = NULL;
	for (int i = 0; i < p->n; i++)
		if (!oldest || p->ev[i].first_seen_ns < oldest->first_seen_ns)
			oldest = &p->ev[i];
	if (oldest && (now_ns - oldest->first_seen_ns >= max_age_ns || p->n == PENDING_MAX))
		return oldest;
	return NULL;
}

void audit_release(struct audit_pending *p, struct audit_event *e)
{
	for (int i = 0; i < e->nrec; i++)
		free(e->rec[i].body);
	*e = p->ev[--p->n]; /* move the last event into the hole */
}

const struct audit_record *audit_find(const struct audit_event *e, int type, int nth)
{
	for (int i = 0; i < e->nrec; i++)
		if (e->rec[i].type == type && nth-- == 0)
			return &e->rec[i];
	return NULL;
}
