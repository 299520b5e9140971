/* SPDX-License-Identifier: Apache-2.0 */
/*
 * palisade-sensor's output: one JSON object per line on stdout. This comment
 * is the schema (version SENSOR_SCHEMA_VERSION; docs/sensor.md repeats it).
 *
 * Fields of every kernel event (source "bpf"):
 *   type      "exec" | "fork" | "exit" | "file" | "net" | "syscall" | "capability"
 *   source    "bpf"
 *   time      RFC 3339 UTC, nanoseconds (of the last occurrence for repeats)
 *   pid, tid  host thread-group id and thread id
 *   ppid      host pid of the parent (real_parent)
 *   nsPid, nsPpid  the same in the task's pid namespace (the container's
 *             view; nsPpid 0 when the parent is outside the namespace)
 *   uid, gid  host ids
 *   cgroupId  cgroup v2 id as a decimal string (inode of the cgroupfs dir)
 *   comm      the thread's comm (16 bytes max)
 *   count     how many occurrences this line stands for (>= 1)
 *   repeat    present and true on aggregated lines: `count` MORE occurrences
 *             of an event already reported in full in the same interval;
 *             firstTime is the first of them. The same event of one program
 *             instance (INSTANCE_NOTE in process.bpf.h): pid is the process
 *             that did it first, otherPids (present when > 0) how many of
 *             the `count` came from other processes of the instance (forked
 *             children that did not exec)
 * Per type:
 *   exec      filename, argv[] (argvTruncated), result 0 — or, for a failed
 *             execve/execveat: filename (as passed), argv [], syscall, nr,
 *             result < 0, errno, denied
 *   fork      pid = the child, ppid = the parent; comm is the parent's.
 *             Reported before the child's first record, not when it happens,
 *             and not at all (nor its exit) for a child that has none
 *             (LAZY_FORK_NOTE in process.bpf.h); time is the fork's
 *   exit      exitCode, signal (of a thread-group leader)
 *   file      syscall ("openat"|"openat2"|"open"), nr, path (as passed, may
 *             be relative to dirfd), pathTruncated, dirfd, flags (number),
 *             flagNames ("O_RDONLY|O_CLOEXEC"), mode, result (fd or -errno),
 *             errno, denied
 *   net       syscall ("socket"|"connect"|"bind"|"accept"|"accept4"), nr,
 *             fd, family ("AF_INET"...), sockType ("SOCK_STREAM"...),
 *             protocol (number), protocolName ("TCP"...), addr (IP text or
 *             AF_UNIX path, "@name" for abstract), port (remote for
 *             connect/accept, local for bind; absent on the repeat lines
 *             of a successful accept), result, errno, denied
 *   syscall   any other syscall returning -EPERM/-EACCES: syscall, nr,
 *             result, errno, denied (always true)
 *   capability  a capability check of the task's own credentials
 *             (tp_btf/cap_capable, Linux >= 6.14): cap (number), capName
 *             ("CAP_NET_RAW"; "CAP_<n>" if unknown), granted (the task held
 *             it), result 0 | -1 (the check's own result: 0 or -EPERM) with
 *             errno "EPERM" when -1, ownUserNs (checked against the task's
 *             own user namespace, false when against an ancestor's, e.g. the
 *             host's), syscall + nr of the syscall in progress (absent when
 *             none). No `denied`: a failed check is not a refused syscall
 *             (the kernel probes capabilities it can do without); a refusal
 *             it causes arrives as its own file/net/syscall event.
 * `errno` is present only when result < 0; `denied` is true when result is
 * -EPERM or -EACCES, i.e. some backend (seccomp, Landlock, capabilities,
 * DAC, cgroup BPF) refused.
 *
 * Control lines (sensor.c): ready, ack, stats, error — see there.
 */
#include "emit.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include "syscalls.h"

static const char *const KIND_NAMES[EV_MAX] = {
	[EV_NONE] = "none", [EV_EXEC] = "exec", [EV_FORK] = "fork", [EV_EXIT] = "exit",
	[EV_FILE] = "file", [EV_NET] = "net", [EV_EXECFAIL] = "exec", [EV_SYSCALL] = "syscall",
	[EV_CAP] = "capability",
};

/* include/uapi/linux/capability.h, by number. */
static const char *const CAP_NAMES[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

const char *cap_name(int cap, char *buf, size_t n)
{
	if (cap >= 0 && (size_t)cap < sizeof(CAP_NAMES) / sizeof(CAP_NAMES[0]))
		return CAP_NAMES[cap];
	snprintf(buf, n, "CAP_%d", cap);
	return buf;
}

const char *kind_name(unsigned kind) { return kind < EV_MAX ? KIND_NAMES[kind] : "unknown"; }

const char *syscall_name(int nr, char *buf, size_t n)
{
	size_t lo = 0, hi = sizeof(SYSCALL_NAMES) / sizeof(SYSCALL_NAMES[0]);
	while (lo < hi) { /* the table is sorted by number */
		size_t mid = (lo + hi) / 2;
		if (SYSCALL_NAMES[mid].nr == nr)
			return SYSCALL_NAMES[mid].name;
		if (SYSCALL_NAMES[mid].nr < nr)
			lo = mid + 1;
		else
			hi = mid;
	}
	snprintf(buf, n, "syscall_%d", nr);
	return buf;
}

static void put_errno(struct jb *j, long long ret)
{
	if (ret >= 0)
		return;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
	const char *name = strerrorname_np((int)-ret);
	if (name) {
		jb_str(j, "errno", name);
		return;
	}
#endif
	char b[24];
	snprintf(b, sizeof(b), "E%lld", -ret);
	jb_str(j, "errno", b);
}

static void put_result(struct jb *j, long long ret)
{
	jb_int(j, "result", ret);
	put_errno(j, ret);
	jb_bool(j, "denied", ret == -EPERM || ret == -EACCES);
}

static void put_header(struct emit_ctx *c, const struct ev_hdr *h, uint64_t count)
{
	struct jb *j = &c->jb;
	jb_begin(j, kind_name(h->kind), "bpf");
	jb_time(j, "time", h->ts + c->clock_off);
	jb_uint(j, "pid", h->pid);
	jb_uint(j, "tid", h->tid);
	jb_uint(j, "ppid", h->ppid);
	jb_uint(j, "nsPid", h->ns_pid);
	jb_uint(j, "nsPpid", h->ns_ppid);
	jb_uint(j, "uid", h->uid);
	jb_uint(j, "gid", h->gid);
	jb_u64str(j, "cgroupId", h->cgroup_id);
	jb_strn(j, "comm", h->comm, COMM_LEN);
	jb_uint(j, "count", count);
}

static void open_flag_names(char *b, size_t n, unsigned long long f)
{
	static const struct { unsigned long long bit; const char *name; } T[] = {
		{ O_CREAT, "O_CREAT" }, { O_EXCL, "O_EXCL" }, { O_NOCTTY, "O_NOCTTY" },
		{ O_TRUNC, "O_TRUNC" }, { O_APPEND, "O_APPEND" }, { O_NONBLOCK, "O_NONBLOCK" },
		{ O_SYNC, "O_SYNC" }, { O_DSYNC, "O_DSYNC" }, { O_DIRECT, "O_DIRECT" },
		{ O_TMPFILE, "O_TMPFILE" }, { O_DIRECTORY, "O_DIRECTORY" }, { O_NOFOLLOW, "O_NOFOLLOW" },
		{ O_NOATIME, "O_NOATIME" }, { O_CLOEXEC, "O_CLOEXEC" }, { O_PATH, "O_PATH" },
	};
	const char *acc[] = { "O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE" };
	size_t len = snprintf(b, n, "%s", acc[f & O_ACCMODE]);
	f &= ~(unsigned long long)O_ACCMODE;
	for (size_t i = 0; i < sizeof(T) / sizeof(T[0]) && len < n; i++) {
		/* Multi-bit flags (O_SYNC, O_TMPFILE) match only when all bits are set. */
		if ((f & T[i].bit) == T[i].bit) {
			len += snprintf(b + len, n - len, "|%s", T[i].name);
			f &= ~T[i].bit;
		}
	}
	if (f && len < n)
		snprintf(b + len, n - len, "|0x%llx", f);
}

static const char *family_name(unsigned f, char *b, size_t n)
{
	switch (f) {
	case AF_UNIX: return "AF_UNIX";
	case AF_INET: return "AF_INET";
	case AF_INET6: return "AF_INET6";
	case AF_NETLINK: return "AF_NETLINK";
	case AF_PACKET: return "AF_PACKET";
	case AF_UNSPEC: return "AF_UNSPEC";
	}
	snprintf(b, n, "AF_%u", f);
	return b;
}

static const char *type_name(unsigned t, char *b, size_t n)
{
	switch (t) {
	case SOCK_STREAM: return "SOCK_STREAM";
	case SOCK_DGRAM: return "SOCK_DGRAM";
	case SOCK_RAW: return "SOCK_RAW";
	case SOCK_SEQPACKET: return "SOCK_SEQPACKET";
	case SOCK_RDM: return "SOCK_RDM";
	case SOCK_PACKET: return "SOCK_PACKET";
	}
	snprintf(b, n, "SOCK_%u", t);
	return b;
}

static const char *proto_name(const struct sys_key *k)
{
	if (k->family != AF_INET && k->family != AF_INET6)
		return NULL;
	switch (k->protocol) {
	case IPPROTO_TCP: return "TCP";
	case IPPROTO_UDP: return "UDP";
	case IPPROTO_ICMP: return "ICMP";
	case IPPROTO_ICMPV6: return "ICMPv6";
	case IPPROTO_SCTP: return "SCTP";
	case 0: /* the default protocol of the type */
		return k->sock_type == SOCK_STREAM ? "TCP" : k->sock_type == SOCK_DGRAM ? "UDP" : NULL;
	}
	return NULL;
}

static void put_cap_body(struct jb *j, const struct sys_key *k)
{
	char b[64];
	jb_int(j, "cap", k->fd);
	jb_str(j, "capName", cap_name(k->fd, b, sizeof(b)));
	jb_bool(j, "granted", k->ret == 0);
	jb_int(j, "result", k->ret);
	put_errno(j, k->ret);
	jb_bool(j, "ownUserNs", k->flags & CAP_FLAG_OWN_USERNS);
	if (k->nr != CAP_NO_SYSCALL) {
		jb_str(j, "syscall", syscall_name(k->nr, b, sizeof(b)));
		jb_uint(j, "nr", k->nr);
	}
}

static void put_sys_body(struct emit_ctx *c, const struct sys_key *k)
{
	struct jb *j = &c->jb;
	char b[256];
	if (k->kind == EV_CAP) {
		put_cap_body(j, k);
		return;
	}
	jb_str(j, "syscall", syscall_name(k->nr, b, sizeof(b)));
	jb_uint(j, "nr", k->nr);
	switch (k->kind) {
	case EV_FILE:
		jb_strn(j, "path", k->path, PATH_LEN);
		jb_bool(j, "pathTruncated", k->path_len >= PATH_LEN);
		jb_int(j, "dirfd", k->fd);
		jb_uint(j, "flags", k->flags);
		open_flag_names(b, sizeof(b), k->flags);
		jb_str(j, "flagNames", b);
		jb_uint(j, "mode", k->mode);
		break;
	case EV_NET: {
		if (k->fd >= 0)
			jb_int(j, "fd", k->fd);
		jb_str(j, "family", family_name(k->family, b, sizeof(b)));
		if (k->sock_type)
			jb_str(j, "sockType", type_name(k->sock_type, b, sizeof(b)));
		jb_uint(j, "protocol", k->protocol);
		const char *pn = proto_name(k);
		if (pn)
			jb_str(j, "protocolName", pn);
		if (k->nr == (unsigned)SYS_socket)
			break; /* no address yet */
		if (k->family == AF_INET || k->family == AF_INET6) {
			inet_ntop(k->family, k->addr, b, sizeof(b));
			jb_str(j, "addr", b);
			/* A successful accept's key has no port (ACCEPT_NOTE in
			 * syscalls.bpf.h): on its repeat lines, none is printed. */
			if (k->port || !((k->nr == (unsigned)SYS_accept || k->nr == (unsigned)SYS_accept4) && k->ret >= 0))
				jb_uint(j, "port", k->port);
		} else if (k->family == AF_UNIX && k->path_len) {
			jb_strn(j, "addr", k->path, PATH_LEN);
		}
		break;
	}
	case EV_EXECFAIL:
		jb_strn(j, "filename", k->path, PATH_LEN);
		jb_arr_begin(j, "argv");
		jb_arr_end(j);
		break;
	}
	put_result(j, k->ret);
}

static int emit_exec(struct emit_ctx *c, const struct exec_event *e)
{
	struct jb *j = &c->jb;
	put_header(c, &e->h, 1);
	jb_strn(j, "filename", e->filename, PATH_LEN);
	jb_arr_begin(j, "argv");
	for (size_t i = 0; i < e->args_len && i < ARGS_LEN;) {
		size_t n = strnlen(e->args + i, e->args_len - i);
		jb_arr_strn(j, e->args + i, n);
		i += n + 1;
	}
	jb_arr_end(j);
	jb_bool(j, "argvTruncated", e->truncated & 1);
	jb_int(j, "result", 0);
	return jb_line(j, c->out);
}

int emit_record(struct emit_ctx *c, const void *data, size_t size)
{
	const struct ev_hdr *h = data;
	if (size < sizeof(*h) || h->kind >= EV_MAX) {
		c->bad_records++;
		return 0;
	}
	c->received++;
	c->events++;
	c->by_kind[h->kind]++;
	switch (h->kind) {
	case EV_EXEC:
		if (size < sizeof(struct exec_event))
			break;
		return emit_exec(c, data);
	case EV_FORK:
		put_header(c, h, 1);
		return jb_line(&c->jb, c->out);
	case EV_EXIT: {
		const struct exit_event *e = data;
		if (size < sizeof(*e))
			break;
		put_header(c, h, 1);
		jb_uint(&c->jb, "exitCode", (e->exit_status >> 8) & 0xff);
		jb_uint(&c->jb, "signal", e->exit_status & 0x7f);
		return jb_line(&c->jb, c->out);
	}
	case EV_FILE:
	case EV_NET:
	case EV_EXECFAIL:
	case EV_SYSCALL:
	case EV_CAP: {
		const struct sys_event *e = data;
		if (size < sizeof(*e))
			break;
		put_header(c, h, 1);
		put_sys_body(c, &e->k);
		return jb_line(&c->jb, c->out);
	}
	}
	c->bad_records++;
	return 0;
}

int emit_repeat(struct emit_ctx *c, const struct sys_key *k, const struct agg_val *v)
{
	struct ev_hdr h = {
		.ts = v->last_ts, .cgroup_id = k->cgroup_id, .kind = k->kind, .pid = v->pid,
		.tid = v->tid, .ppid = v->ppid, .uid = k->uid, .gid = v->gid,
		.ns_pid = v->ns_pid, .ns_ppid = v->ns_ppid,
	};
	memcpy(h.comm, k->comm, COMM_LEN);
	c->events += v->count;
	c->repeats += v->count;
	if (k->kind < EV_MAX)
		c->by_kind[k->kind] += v->count;
	put_header(c, &h, v->count);
	jb_bool(&c->jb, "repeat", 1);
	jb_time(&c->jb, "firstTime", v->first_ts + c->clock_off);
	if (v->others)
		jb_uint(&c->jb, "otherPids", v->others);
	put_sys_body(c, k);
	return jb_line(&c->jb, c->out);
}
