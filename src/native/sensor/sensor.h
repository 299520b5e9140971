/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Records shared by the BPF program (sensor.bpf.c) and its loader (sensor.c).
 *
 * The kernel side writes these binary records into one BPF ring buffer; the
 * loader turns each into one JSON line (schema in emit.c and docs/sensor.md).
 * Everything here is fixed-size because bpf_ringbuf_reserve() needs a
 * constant size, and explicitly padded so the aggregation key hashes the
 * same bytes every time (the BPF side zeroes it before filling it).
 *
 * Included by BPF code (after vmlinux.h, which defines __u64 & co.) and by
 * user space (after <linux/types.h>).
 */
#ifndef PALISADE_SENSOR_H
#define PALISADE_SENSOR_H

#define SENSOR_SCHEMA_VERSION 1

#define COMM_LEN 16
/* Paths longer than this are cut and flagged (pathTruncated). 256 keeps the
 * aggregation key small enough for a per-CPU scratch copy and a cheap hash. */
#define PATH_LEN 256
/* Bytes of the NUL-separated argument block read at exec (argvTruncated). */
#define ARGS_LEN 512
#define MAX_WATCHED 1024

enum ev_kind {
	EV_NONE = 0,
	EV_EXEC = 1,      /* sched_process_exec: a successful execve */
	EV_FORK = 2,      /* sched_process_fork: a new process (threads are skipped) */
	EV_EXIT = 3,      /* sched_process_exit of a thread-group leader */
	EV_FILE = 4,      /* open/openat/openat2 (success or failure) */
	EV_NET = 5,       /* socket/connect/bind/accept/accept4 */
	EV_EXECFAIL = 6,  /* execve/execveat that returned an error */
	EV_SYSCALL = 7,   /* any other syscall that returned -EPERM or -EACCES */
	EV_CAP = 8,       /* tp_btf/cap_capable: a capability check (granted or not), see below */
	EV_MAX = 9,
};

/* Common header of every ring-buffer record. pid is the thread-group id
 * (what ps calls the PID), tid the thread. */
struct ev_hdr {
	__u64 ts;        /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cgroup_id; /* cgroup v2 id of the task = inode of its cgroupfs dir */
	__u32 kind;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 ns_pid;    /* pid in the task's own pid namespace (the container's PID) */
	__u32 ns_ppid;   /* parent's pid in that namespace; 0 when the parent is outside it */
	char comm[COMM_LEN];
};

struct exec_event {
	struct ev_hdr h;
	__u32 args_len;   /* bytes valid in args */
	__u32 truncated;  /* bit 0: args cut at ARGS_LEN; bit 1: filename cut */
	char filename[PATH_LEN];
	char args[ARGS_LEN];
};

struct fork_event {
	struct ev_hdr h;  /* pid/tid = the child, ppid = the parent */
};

struct exit_event {
	struct ev_hdr h;
	__u32 exit_status; /* task->exit_code: (status << 8) | signal */
	__u32 pad;
};

/*
 * Identity of a syscall event. Two events with equal keys in the same flush
 * interval are folded into one count (in-kernel aggregation); every field a
 * consumer would want to distinguish on is therefore part of the key.
 */
struct sys_key {
	__u64 cgroup_id;
	__s64 ret;        /* syscall result: fd, 0, or -errno */
	__u64 flags;      /* open flags / accept4 flags / socket type with flags */
	__u32 pid;        /* program instance (INSTANCE_NOTE in process.bpf.h): the
			   * thread-group id, or for a forked child that has not
			   * exec'd (refusals aside) its parent's instance */
	__u32 uid;        /* who: a setuid() or an exec (new comm) starts new keys, */
	char comm[COMM_LEN]; /* so a repeat is never attributed to an earlier identity */
	__u32 nr;         /* syscall number of the running arch */
	__s32 fd;         /* dirfd for openat*, socket fd for connect/bind/accept */
	__u32 mode;       /* open mode */
	__u16 kind;       /* enum ev_kind */
	__u16 family;     /* AF_* */
	__u16 sock_type;  /* SOCK_* without SOCK_NONBLOCK/CLOEXEC, 0 if unknown */
	__u16 protocol;   /* IPPROTO_* */
	__u16 port;       /* host order: remote for connect/accept, local for bind */
	__u16 path_len;   /* bpf_probe_read_user_str() result (includes NUL); PATH_LEN = maybe cut */
	__u32 pad;
	__u8 addr[16];    /* IPv4 in the first 4 bytes, or IPv6 */
	char path[PATH_LEN]; /* file path, AF_UNIX path, or failed exec's filename */
};

/*
 * EV_CAP reuses struct sys_key (and so the aggregation maps and the drain)
 * with these fields; every other field stays zero:
 *   nr     the syscall the task is in (orig_ax / syscallno), or CAP_NO_SYSCALL
 *   fd     the capability number (CAP_CHOWN = 0 ... CAP_LAST_CAP)
 *   ret    0 (the task holds it) or -EPERM (it does not)
 *   flags  CAP_FLAG_OWN_USERNS: the check was against the task's own user
 *          namespace (a "namespaced" capability, e.g. inside a rootless
 *          container); clear when it targets an ancestor namespace (the host's)
 */
#define CAP_NO_SYSCALL 0xffffffffu
#define CAP_FLAG_OWN_USERNS 1

struct sys_event {
	struct ev_hdr h;
	struct sys_key k;
};

/* Value of the aggregation maps: how many *more* times the key was seen
 * after the first occurrence, which went to the ring buffer in full. */
struct agg_val {
	__u64 count;
	__u64 first_ts;
	__u64 last_ts;
	__u64 others;   /* of count: by processes other than `pid` (same program instance) */
	__u32 pid;      /* thread-group id of the first occurrence (the key holds the instance) */
	__u32 tid;
	__u32 ppid;
	__u32 gid;
	__u32 ns_pid;
	__u32 ns_ppid;
};

/* Per-CPU "same key as this CPU's last event" slot (FAST_NOTE in
 * sensor.bpf.c): one per CPU and map generation (agg_gen & 1). val.count is
 * repeats counted here and not in the aggregation map; user space adds them
 * in after each swap. */
struct fast_slot {
	struct sys_key key;
	struct agg_val val;
	__u32 gen;    /* agg_gen when the slot was filled */
	__u32 valid;
	__u64 jif;    /* jiffies when val.last_ts was last read from the clock */
	__u32 misses; /* events of other keys since the last hit (FAST_MISSES) */
	__u32 pad;
	__u64 hits;   /* repeats counted here this generation, kept across refills
		       * (user space adds them to "folded" and "fastHits") */
};

/* One per-CPU record of counters; user space sums over CPUs. */
struct counters {
	__u64 dropped[EV_MAX]; /* bpf_ringbuf_reserve() failed: the event is lost, counted here */
	__u64 folded;          /* events added to an aggregation map's count instead of the ring
				* (the fast path counts its own: fast_slot.hits) */
	__u64 agg_full;        /* first occurrences that found the aggregation map full */
	__u64 cap_probes;      /* capability checks left out as probes (cap_vm_enough_memory) */
	__u64 quiet;           /* processes that exited with no record of their own: fork and
				* exit not reported (LAZY_FORK_NOTE in process.bpf.h) */
};

#endif
