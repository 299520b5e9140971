/* SPDX-License-Identifier: Apache-2.0 */
/*
 * palisade-auditd: reads kernel audit records from the NETLINK_AUDIT
 * multicast group and prints enforcement denials as JSON lines — the events
 * that the BPF sensor cannot see the reason of (which LSM, which rule).
 *
 *   palisade-auditd [--no-enable] [--stats-ms N] [--keep-on-eof] [--raw]
 *
 * Why multicast (AUDIT_NLGRP_READLOG) and not the unicast auditd channel:
 * only one process may be the audit daemon; the read-only multicast group
 * coexists with auditd/journald. The kernel only produces records while
 * audit is enabled, so unless --no-enable we turn it on (AUDIT_SET enabled=1)
 * and put the previous state back on exit — if nobody changed it meanwhile
 * and no other palisade-auditd still runs on the host (see audit_share_*).
 * With no audit daemon registered, the kernel also prints records to the
 * kernel log (rate-limited); that is the kernel's behaviour, not ours.
 *
 * Output (one JSON object per line; docs/sensor.md has the full schema):
 *   {"type":"ready","source":"audit","pid":N,"auditWasEnabled":0,"auditEnabled":1}
 *   {"type":"denial","source":"audit","enforcer":"Landlock","time":…,"serial":N,
 *    "pid":N,"ppid":N,"uid":N,"gid":N,"comm":…,"exe":…,"syscall":"openat","nr":257,
 *    "result":-13,"errno":"EACCES","denied":true,"count":1,"blockers":["fs.read_file"],
 *    "path":…,"dev":…,"ino":N,"addr":…,"port":N,"domain":"1c7a09a1a",
 *    "domainInfo":{…},"records":["1423 domain=…", …]}
 *     (enforcer "Seccomp" for SECCOMP records: "seccompAction" and "code")
 *   {"type":"stats","source":"audit","received":N,"events":N,"dropped":N,"kernelLost":N}
 *     received = records read; events = denials printed; dropped = times our
 *     socket overflowed (ENOBUFS: at least that many records lost);
 *     kernelLost = growth of the kernel's audit "lost" counter since start
 *     (records the kernel could not queue — it also counts kernel-log rate
 *     limiting when no audit daemon runs, so it is an upper bound)
 *   {"type":"ack",…} for stdin commands "stats" and "quit"; {"type":"error",…}
 * Exit status: 0, 1 usage, 2 the audit socket could not be opened or joined.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "audit_parse.h"
#include "audit_share.h"
#include "json.h"
#include "syscalls.h"

#define EVENT_TIMEOUT_NS 300000000ull /* records of one event arrive together; 300 ms is ample */

static volatile sig_atomic_t stop;
static struct jb jb;
static uint64_t received, events, overruns, lost_at_start;
static struct audit_pending pending;
static int raw;

/* Landlock domains seen "allocated": who created them, for later denials. */
#define DOMAINS 64
static struct { char id[32]; char info[512]; } domains[DOMAINS];
static int ndomains;

static void on_signal(int s) { stop = 1; }

/* One request on the control socket; replies are matched by sequence number
 * so a late ACK of an earlier request is never mistaken for this one's. */
static int audit_request(int fd, int type, const void *data, size_t len, struct audit_status *reply)
{
	static __u32 seq;
	struct {
		struct nlmsghdr h;
		struct audit_status s;
	} req = { .h = { .nlmsg_len = NLMSG_LENGTH(len), .nlmsg_type = type,
			 .nlmsg_flags = NLM_F_REQUEST | (reply ? 0 : NLM_F_ACK), .nlmsg_seq = ++seq } };
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	memcpy(&req.s, data, len);
	if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	char buf[8192];
	for (int tries = 0; tries < 16; tries++) {
		int n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return -errno;
		for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				if (e->error || !reply)
					return e->error;
			} else if (h->nlmsg_type == AUDIT_GET && reply) {
				size_t pl = NLMSG_PAYLOAD(h, 0);
				memcpy(reply, NLMSG_DATA(h), sizeof(*reply) < pl ? sizeof(*reply) : pl);
				return 0;
			}
		}
	}
	return -EPROTO;
}

static int audit_get(int fd, struct audit_status *s)
{
	memset(s, 0, sizeof(*s));
	return audit_request(fd, AUDIT_GET, s, 0, s);
}

static int audit_set_enabled(int fd, unsigned enabled)
{
	struct audit_status s = { .mask = AUDIT_STATUS_ENABLED, .enabled = enabled };
	return audit_request(fd, AUDIT_SET, &s, sizeof(s), NULL);
}

static void put_field_str(const char *body, const char *key, const char *json_key)
{
	char v[4096];
	if (audit_field(body, key, v, sizeof(v)) >= 0 && strcmp(v, "(null)") && strcmp(v, "?"))
		jb_str(&jb, json_key, v);
}

static void put_field_int(const char *body, const char *key, const char *json_key)
{
	char v[64], *end;
	if (audit_field(body, key, v, sizeof(v)) > 0) {
		long long x = strtoll(v, &end, 10);
		if (!*end)
			jb_int(&jb, json_key, x);
	}
}

static const char *syscall_name(int nr)
{
	for (size_t i = 0; i < sizeof(SYSCALL_NAMES) / sizeof(SYSCALL_NAMES[0]); i++)
		if (SYSCALL_NAMES[i].nr == nr)
			return SYSCALL_NAMES[i].name;
	return NULL;
}

/* pid, comm, exe, syscall and result: from the SYSCALL record when there is
 * one (the task had an audit context), else from the record itself. */
static void put_process(const struct audit_event *e, const char *fallback)
{
	const struct audit_record *sc = audit_find(e, AUDIT_T_SYSCALL, 0);
	const char *b = sc ? sc->body : fallback;
	char v[64];
	put_field_int(b, "pid", "pid");
	put_field_int(b, "ppid", "ppid");
	put_field_int(b, "uid", "uid");
	put_field_int(b, "gid", "gid");
	put_field_str(b, "comm", "comm");
	put_field_str(b, "exe", "exe");
	if (audit_field(b, "syscall", v, sizeof(v)) > 0) {
		int nr = atoi(v);
		const char *name = syscall_name(nr);
		if (name)
			jb_str(&jb, "syscall", name);
		jb_int(&jb, "nr", nr);
	}
	if (sc && audit_field(sc->body, "exit", v, sizeof(v)) > 0) {
		long long r = strtoll(v, NULL, 10);
		jb_int(&jb, "result", r);
		if (r < 0) {
#if defined(__GLIBC__)
			const char *n = strerrorname_np((int)-r);
			if (n)
				jb_str(&jb, "errno", n);
#endif
		}
	}
}

static void put_records(const struct audit_event *e)
{
	jb_arr_begin(&jb, "records");
	for (int i = 0; i < e->nrec; i++) {
		char line[4200];
		int n = snprintf(line, sizeof(line), "%d %s", e->rec[i].type, e->rec[i].body);
		jb_arr_strn(&jb, line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
	jb_arr_end(&jb);
}

static void remember_domain(const char *body)
{
	char id[32], status[32];
	if (audit_field(body, "domain", id, sizeof(id)) <= 0 || audit_field(body, "status", status, sizeof(status)) <= 0)
		return;
	if (strcmp(status, "allocated"))
		return;
	int slot = ndomains < DOMAINS ? ndomains++ : (int)(received % DOMAINS); /* overwrite an arbitrary old one */
	snprintf(domains[slot].id, sizeof(domains[slot].id), "%s", id);
	snprintf(domains[slot].info, sizeof(domains[slot].info), "%s", body);
}

static void put_domain(const char *id)
{
	for (int i = 0; i < ndomains; i++) {
		if (strcmp(domains[i].id, id))
			continue;
		const char *b = domains[i].info;
		jb_obj_begin(&jb, "domainInfo");
		put_field_str(b, "mode", "mode");
		put_field_int(b, "pid", "pid");
		put_field_int(b, "uid", "uid");
		put_field_str(b, "exe", "exe");
		put_field_str(b, "comm", "comm");
		jb_obj_end(&jb);
		return;
	}
}

static void emit_landlock(const struct audit_event *e, const struct audit_record *r)
{
	char v[4096], id[32] = "";
	jb_begin(&jb, "denial", "audit");
	jb_str(&jb, "enforcer", "Landlock");
	jb_time(&jb, "time", r->time_ms * 1000000ull);
	jb_uint(&jb, "serial", r->serial);
	put_process(e, "");
	jb_bool(&jb, "denied", 1);
	jb_uint(&jb, "count", 1);
	jb_arr_begin(&jb, "blockers");
	if (audit_field(r->body, "blockers", v, sizeof(v)) > 0)
		for (char *save, *b = strtok_r(v, ",", &save); b; b = strtok_r(NULL, ",", &save))
			jb_arr_strn(&jb, b, strlen(b));
	jb_arr_end(&jb);
	put_field_str(r->body, "path", "path");
	put_field_str(r->body, "dev", "dev");
	put_field_int(r->body, "ino", "ino");
	put_field_str(r->body, "name", "name");
	/* connect: daddr/dest; bind: saddr/src. */
	if (audit_field(r->body, "daddr", v, sizeof(v)) > 0 || audit_field(r->body, "saddr", v, sizeof(v)) > 0)
		jb_str(&jb, "addr", v);
	put_field_int(r->body, "dest", "port");
	put_field_int(r->body, "src", "port");
	if (audit_field(r->body, "domain", id, sizeof(id)) > 0) {
		jb_str(&jb, "domain", id);
		put_domain(id);
	}
	put_records(e);
	jb_line(&jb, stdout);
	events++;
}

static void emit_seccomp(const struct audit_event *e, const struct audit_record *r)
{
	static const struct { unsigned long action; const char *name; int denied; } A[] = {
		{ 0x80000000, "kill_process", 1 }, { 0x00000000, "kill_thread", 1 }, { 0x00030000, "trap", 1 },
		{ 0x00050000, "errno", 1 }, { 0x7fc00000, "user_notif", 0 }, { 0x7ff00000, "trace", 0 },
		{ 0x7ffc0000, "log", 0 }, { 0x7fff0000, "allow", 0 },
	};
	char v[64];
	unsigned long code = audit_field(r->body, "code", v, sizeof(v)) > 0 ? strtoul(v, NULL, 16) : 0;
	const char *action = "unknown";
	int denied = 1;
	for (size_t i = 0; i < sizeof(A) / sizeof(A[0]); i++)
		if ((code & 0xffff0000ul) == A[i].action)
			action = A[i].name, denied = A[i].denied;
	jb_begin(&jb, "denial", "audit");
	jb_str(&jb, "enforcer", "Seccomp");
	jb_time(&jb, "time", r->time_ms * 1000000ull);
	jb_uint(&jb, "serial", r->serial);
	put_process(e, r->body);
	jb_bool(&jb, "denied", denied);
	jb_uint(&jb, "count", 1);
	jb_str(&jb, "seccompAction", action);
	jb_str(&jb, "code", v);
	put_records(e);
	jb_line(&jb, stdout);
	events++;
}

static void finish(struct audit_event *e)
{
	const struct audit_record *r;
	for (int i = 0; (r = audit_find(e, AUDIT_T_LANDLOCK_DOMAIN, i)); i++)
		remember_domain(r->body);
	if (e->interesting) {
		for (int i = 0; (r = audit_find(e, AUDIT_T_LANDLOCK_ACCESS, i)); i++)
			emit_landlock(e, r);
		for (int i = 0; (r = audit_find(e, AUDIT_T_SECCOMP, i)); i++)
			emit_seccomp(e, r);
	}
	audit_release(&pending, e);
}

static void handle(struct nlmsghdr *h)
{
	struct audit_record r;
	int done;
	if (h->nlmsg_type < AUDIT_FIRST_USER_MSG || audit_parse(h->nlmsg_type, NLMSG_DATA(h), NLMSG_PAYLOAD(h, 0), &r))
		return;
	received++;
	if (raw) {
		jb_begin(&jb, "record", "audit");
		jb_int(&jb, "recordType", r.type);
		jb_uint(&jb, "serial", r.serial);
		jb_str(&jb, "body", r.body);
		jb_line(&jb, stdout);
	}
	struct audit_event *old;
	if (pending.n == PENDING_MAX && (old = audit_expire(&pending, monotonic_ns(), EVENT_TIMEOUT_NS)))
		finish(old);
	struct audit_event *e = audit_add(&pending, &r, monotonic_ns(), &done);
	if (e && done)
		finish(e);
}

static void stats(int ctl)
{
	struct audit_status s;
	jb_begin(&jb, "stats", "audit");
	jb_time(&jb, "time", realtime_ns());
	jb_uint(&jb, "received", received);
	jb_uint(&jb, "events", events);
	jb_uint(&jb, "dropped", overruns);
	if (audit_get(ctl, &s) == 0)
		jb_uint(&jb, "kernelLost", s.lost - lost_at_start);
	jb_line(&jb, stdout);
}

static void ack(const char *cmd, int ok)
{
	jb_begin(&jb, "ack", "audit");
	jb_str(&jb, "cmd", cmd);
	jb_str(&jb, "arg", "");
	jb_bool(&jb, "ok", ok);
	if (!ok)
		jb_str(&jb, "error", "unknown command (stats, quit)");
	jb_line(&jb, stdout);
}

static int read_commands(int ctl)
{
	static char buf[1024];
	static size_t len;
	ssize_t n = read(0, buf + len, sizeof(buf) - 1 - len);
	if (n <= 0)
		return n == 0 || (errno != EINTR && errno != EAGAIN);
	len += n;
	char *start = buf, *nl;
	while ((nl = memchr(start, '\n', buf + len - start))) {
		*nl = 0;
		start[strcspn(start, " \r\t")] = 0;
		if (!strcmp(start, "stats"))
			stats(ctl), ack("stats", 1);
		else if (!strcmp(start, "quit"))
			ack("quit", 1), stop = 1;
		else if (*start)
			ack(start, 0);
		start = nl + 1;
	}
	len -= start - buf;
	memmove(buf, start, len);
	if (len == sizeof(buf) - 1)
		len = 0;
	return 0;
}

static int fail(const char *what, int err)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "%s: %s (needs root: CAP_AUDIT_CONTROL and CAP_AUDIT_READ)", what, strerror(err));
	jb_begin(&jb, "error", "audit");
	jb_str(&jb, "message", msg);
	jb_bool(&jb, "fatal", 1);
	jb_line(&jb, stdout);
	fprintf(stderr, "palisade-auditd: %s\n", msg);
	return 2;
}

int main(int argc, char **argv)
{
	int enable = 1, keep_on_eof = 0;
	unsigned long stats_ms = 5000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-enable")) enable = 0;
		else if (!strcmp(argv[i], "--keep-on-eof")) keep_on_eof = 1;
		else if (!strcmp(argv[i], "--raw")) raw = 1;
		else if (!strcmp(argv[i], "--stats-ms") && i + 1 < argc && (stats_ms = strtoul(argv[++i], NULL, 10))) ;
		else {
			fprintf(stderr, "usage: palisade-auditd [--no-enable] [--stats-ms N] [--keep-on-eof] [--raw]\n");
			return 1;
		}
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGTERM);

	int ctl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	int mc = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	struct sockaddr_nl group = { .nl_family = AF_NETLINK, .nl_groups = 1u << (AUDIT_NLGRP_READLOG - 1) };
	if (ctl < 0 || mc < 0)
		return fail("cannot open a NETLINK_AUDIT socket", errno);
	int rcvbuf = 8 << 20; /* bursts of denials must not overflow the socket */
	if (setsockopt(mc, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(mc, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(mc, (struct sockaddr *)&group, sizeof(group)))
		return fail("cannot join the audit multicast group", errno);
	struct audit_status st;
	int r = audit_get(ctl, &st);
	if (r)
		return fail("AUDIT_GET failed", -r);
	unsigned was = st.enabled;
	int changed = 0, shared = enable ? audit_share_begin() : -1;
	lost_at_start = st.lost;
	if (shared == 1) {
		audit_share_record(was);
	} else if (shared == 0) {
		/* Another sensor runs: what it found is what the last of us restores. */
		int rec = audit_share_recorded();
		if (rec >= 0)
			was = (unsigned)rec;
	}
	if (enable && st.enabled == 0) {
		if ((r = audit_set_enabled(ctl, 1))) {
			if (shared >= 0)
				audit_share_end();
			return fail("cannot enable audit (AUDIT_SET)", -r);
		}
		changed = 1;
	}
	if (shared >= 0) {
		changed = was == 0; /* the last user restores what the first one found */
		audit_share_joined();
	}
	jb_begin(&jb, "ready", "audit");
	jb_uint(&jb, "pid", getpid());
	jb_uint(&jb, "auditWasEnabled", was);
	jb_uint(&jb, "auditEnabled", changed ? 1 : was);
	jb_line(&jb, stdout);
	fflush(stdout);

	char buf[1 << 16];
	int stdin_open = 1;
	uint64_t next_stats = monotonic_ns() + stats_ms * 1000000ull;
	while (!stop) {
		struct pollfd p[2] = { { .fd = mc, .events = POLLIN }, { .fd = stdin_open ? 0 : -1, .events = POLLIN } };
		if (poll(p, 2, pending.n ? 50 : 500) < 0 && errno != EINTR)
			break;
		if (p[0].revents) {
			int n = recv(mc, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0 && errno == ENOBUFS)
				overruns++; /* the socket overflowed: records were lost, and we say so */
			for (struct nlmsghdr *h = (void *)buf; n > 0 && NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n))
				handle(h);
		}
		if (p[1].revents && read_commands(ctl)) {
			stdin_open = 0;
			if (!keep_on_eof)
				break;
		}
		struct audit_event *e;
		while ((e = audit_expire(&pending, monotonic_ns(), EVENT_TIMEOUT_NS)))
			finish(e);
		if (monotonic_ns() >= next_stats) {
			stats(ctl);
			next_stats = monotonic_ns() + stats_ms * 1000000ull;
		}
		if (fflush(stdout))
			break; /* nobody reads us any more */
	}
	while (pending.n)
		finish(&pending.ev[0]);
	stats(ctl);
	fflush(stdout);
	/* Put audit back as we found it, unless someone else changed it since or another sensor still runs. */
	int last = shared >= 0 ? audit_share_last() : 1;
	if (last && changed && audit_get(ctl, &st) == 0 && st.enabled == 1)
		audit_set_enabled(ctl, was);
	if (shared >= 0)
		audit_share_end(); /* the next first user records afresh */
	return 0;
}
