/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsing of kernel audit records ("audit(SEC.MS:SERIAL): key=value ...")
 * and grouping of the records of one event by serial. Pure functions over
 * text, so they are independent of the netlink plumbing in auditd.c.
 */
#ifndef PALISADE_AUDIT_PARSE_H
#define PALISADE_AUDIT_PARSE_H
#include <stddef.h>
#include <stdint.h>

#define AUDIT_T_SYSCALL 1300
#define AUDIT_T_EOE 1320
#define AUDIT_T_SECCOMP 1326
#define AUDIT_T_LANDLOCK_ACCESS 1423
#define AUDIT_T_LANDLOCK_DOMAIN 1424

#define EVENT_MAX_RECORDS 16
#define PENDING_MAX 64

struct audit_record {
	int type;
	uint64_t time_ms;   /* from the audit(SEC.MS:…) stamp */
	uint64_t serial;
	char *body;         /* text after "): ", NUL-terminated, owned */
};

/* Parses the stamp; on success sets *r (body is a malloc'd copy). */
int audit_parse(int type, const char *text, size_t len, struct audit_record *r);

/*
 * The value of `key` in a record body, unquoted, and hex-decoded for the
 * fields the kernel writes with audit_log_untrustedstring() when they hold
 * spaces, quotes or control bytes (comm, exe, path, name, cwd, proctitle…).
 * Returns the value's length (the output is NUL-terminated and may hold
 * NULs when decoded, e.g. proctitle), or -1 when the key is absent.
 */
int audit_field(const char *body, const char *key, char *out, size_t n);

/* Records of one audit event, collected until its EOE record or a timeout. */
struct audit_event {
	uint64_t serial;
	uint64_t first_seen_ns; /* monotonic, for the timeout */
	int nrec;
	int interesting;        /* holds a record we report (Landlock, seccomp) */
	struct audit_record rec[EVENT_MAX_RECORDS];
};

struct audit_pending {
	struct audit_event ev[PENDING_MAX];
	int n;
};

/*
 * Adds a record. Returns the event it belongs to; when that event is
 * complete (EOE) *done is set and the caller must emit it and then call
 * audit_release(). Events that never get an EOE (records logged outside a
 * syscall) are completed by audit_expire().
 */
struct audit_event *audit_add(struct audit_pending *p, struct audit_record *r, uint64_t now_ns, int *done);
/* Returns one event older than max_age_ns (or the oldest if the table is
 * full and `force`), to be emitted and released; NULL when none. */
struct audit_event *audit_expire(struct audit_pending *p, uint64_t now_ns, uint64_t max_age_ns);
void audit_release(struct audit_pending *p, struct audit_event *e);
const struct audit_record *audit_find(const struct audit_event *e, int type, int nth);
#endif
