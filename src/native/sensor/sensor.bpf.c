// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * palisade-sensor, kernel side: process, file and network events of watched
 * cgroups, written to one BPF ring buffer as the records of sensor.h.
 *
 * Why these hooks: on our kernels only tp_btf / raw tracepoints load (no
 * kprobes, no fentry/LSM — see PLATFORM.md). So:
 *   - tp_btf/sched_process_exec|fork|exit for the process tree;
 *   - ONE tp_btf/sys_exit program for syscalls. No sys_enter: at syscall exit
 *     the argument registers are still intact in pt_regs (x86-64 keeps
 *     di/si/dx/r10/r8, arm64 keeps orig_x0 and x1..x5), and user memory the
 *     kernel just read (paths, sockaddrs) is paged in, so a single program
 *     sees arguments and result. Every syscall on the host pays for this
 *     program, so its fast path is: one global load, one register load and a
 *     switch; only interesting syscalls (or -EPERM/-EACCES results) go on to
 *     the cgroup map lookup, and only watched cgroups go further.
 *
 *   - tp_btf/cap_capable (Linux >= 6.14) for capability checks. The loader
 *     leaves it out when the kernel's BTF lacks the tracepoint, so the rest
 *     still loads on older kernels.
 *
 * Caveat (documented in docs/sensor.md): paths and addresses are read from
 * user memory at syscall exit, so a racing thread of the same process could
 * change what we report. This is visibility, not enforcement.
 *
 * Flooding: syscall events are aggregated in the kernel. The first
 * occurrence of a key (struct sys_key) in a flush interval goes to the ring
 * buffer in full; repeats only bump a counter in a hash map, which user
 * space drains every interval (double-buffered through agg_cur, see
 * sensor.c: swap_and_drain). When the ring buffer is full the event is
 * counted in counters.dropped[kind] — never dropped silently.
 *
 * FAST_NOTE: before the aggregation map, on_sys_exit compares the event's key
 * with this CPU's last accounted key (the `fast` map: one slot per CPU and
 * map generation). Equal: count it in the slot — no hash of the 352-byte key,
 * no hash-map lookup. The slot is filled only after its key was accounted
 * (emitted to the ring or folded into the map), and user space adds the
 * slots of the old generation in after each swap (sensor.c: drain_fast), so
 * counts stay exact. A slot holding repeats is replaced only after
 * FAST_MISSES events of other keys in a row: its repeats are first added to
 * its key's entry in the aggregation map (fast_fold). Without that, a
 * workload that runs one short process after another (each a new pid, so a
 * new key) kept the first process's slot for the whole flush interval and
 * every later process took the map path. Requiring misses in a row keeps
 * two alternating keys from evicting each other on every event. Measured on
 * the open+close loop in docs/sensor.md, "Filtering and cost".
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "sensor.h"

/* Not in vmlinux.h (they are macros in the kernel). */
#define EPERM 1
#define EACCES 13
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define O_CREAT 0100
#define O_TMPFILE_BIT 020000000
#define AT_FDCWD -100

#if defined(__TARGET_ARCH_x86)
#define NR_open 2
#define NR_socket 41
#define NR_connect 42
#define NR_accept 43
#define NR_bind 49
#define NR_execve 59
#define NR_openat 257
#define NR_accept4 288
#define NR_execveat 322
#define NR_openat2 437
#define NR_mprotect 10
#define NR_brk 12
#define NR_mremap 25
#define SYSCALL_NR(r) ((long)(r)->orig_ax)
#define ARG0(r) ((r)->di)
#define ARG1(r) ((r)->si)
#define ARG2(r) ((r)->dx)
#define ARG3(r) ((r)->r10)
#define ARG4(r) ((r)->r8)
/* 32-bit tasks use other syscall numbers; skip them rather than misreport. */
#define TS_COMPAT 0x0002
static __always_inline int is_compat(struct task_struct *t) { return t->thread_info.status & TS_COMPAT; }
#elif defined(__TARGET_ARCH_arm64)
#define NR_open -1 /* arm64 has only openat */
#define NR_socket 198
#define NR_bind 200
#define NR_accept 202
#define NR_connect 203
#define NR_execve 221
#define NR_accept4 242
#define NR_execveat 281
#define NR_openat 56
#define NR_openat2 437
#define NR_brk 214
#define NR_mremap 216
#define NR_mprotect 226
#define SYSCALL_NR(r) ((long)(r)->syscallno)
#define ARG0(r) ((r)->orig_x0) /* x0 now holds the return value */
#define ARG1(r) ((r)->regs[1])
#define ARG2(r) ((r)->regs[2])
#define ARG3(r) ((r)->regs[3])
#define ARG4(r) ((r)->regs[4])
#define TIF_32BIT 22
static __always_inline int is_compat(struct task_struct *t) { return (t->thread_info.flags >> TIF_32BIT) & 1; }
#else
#error "palisade-sensor supports x86-64 and arm64 (set __TARGET_ARCH_x86 or __TARGET_ARCH_arm64)"
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Written by user space through the mmap'ed .bss: the number of watched
 * cgroups, so that with none watched every hook returns after one load. */
volatile __u32 nwatched = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_WATCHED);
	__type(key, __u64);  /* cgroup v2 id */
	__type(value, __u8);
} watched SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized by the loader (--ringbuf-kb) */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} counters SEC(".maps");

/* Bumped by user space after each change to `watched`, once every program
 * that may have seen the old map has finished (sensor.c: set_watch); a
 * WATCH_CACHE entry of an older generation is not used. */
volatile __u32 watch_gen = 0;

/* Per CPU: the key (~370 bytes: too big for the 512-byte BPF stack next to
 * everything else) and WATCH_CACHE, the answer for the last cgroup this CPU
 * looked up. Nothing outside this file reads it. */
struct cpu_scratch {
	struct sys_key k;
	__u64 wcg;   /* cgroup id of the cached answer (0: none) */
	__u32 wgen;  /* watch_gen it was looked up under */
	__u32 wyes;  /* in `watched` */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_scratch);
} scratch SEC(".maps");

/* Two aggregation maps; agg_cur[0] points at the one the kernel fills. User
 * space swaps it (the update waits for running programs to finish, as the
 * kernel does for every map-in-map update) and then drains the other one
 * without racing against increments. */
struct agg_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048); /* resized by the loader (--agg-entries) */
	__type(key, struct sys_key);
	__type(value, struct agg_val);
} agg_a SEC(".maps"), agg_b SEC(".maps");

/* FAST_NOTE: the generation of the aggregation maps, bumped by user space
 * before each swap; fast slot gen & 1 belongs to generation gen. */
volatile __u32 agg_gen = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct fast_slot);
} fast SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct agg_map);
} agg_cur SEC(".maps") = {
	.values = { &agg_a },
};

/* Never read by a program: user space writes its slot only to wait for
 * running programs to finish (sensor.c: wait_for_programs). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct agg_map);
} rcu_wait SEC(".maps");

static __always_inline struct counters *ctrs(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline void count_drop(__u32 kind)
{
	struct counters *c = ctrs();
	if (c && kind < EV_MAX)
		c->dropped[kind]++; /* per-CPU: no atomics needed */
}

static __always_inline struct cpu_scratch *cpu_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch, &zero);
}

/*
 * WATCH_CACHE: is the current task's cgroup (v2) watched? Every watched-path
 * event and every open/socket syscall on the host asks, so the answer for
 * the last cgroup seen is kept per CPU, tagged with watch_gen: a hit costs
 * no hash-map lookup. The id is read through BTF pointers, as
 * bpf_get_current_cgroup_id() does (task → css_set → default-hierarchy
 * cgroup → kernfs node), without the helper call; a pointer that cannot be
 * read gives 0, never watched. Both together halved the cost of this check
 * (docs/sensor.md, "Filtering and cost").
 */
static __always_inline int watched_cgroup(struct cpu_scratch *s, __u64 *cg)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 id = t->cgroups->dfl_cgrp->kn->id;
	__u32 gen = watch_gen;
	*cg = id;
	if (!s || !id)
		return 0;
	if (s->wcg == id && s->wgen == gen)
		return s->wyes;
	int yes = bpf_map_lookup_elem(&watched, &id) != NULL;
	s->wcg = id;
	s->wgen = gen;
	s->wyes = yes;
	return yes;
}

/* pid of task t's thread group as seen in pid namespace `level` (0 if t is not
 * in that namespace), i.e. what `getpid()` returns inside the container.
 * Plain loads through BTF pointers (the verifier turns them into fault-safe
 * loads) are much cheaper than bpf_probe_read_kernel() calls; only the
 * variable-index array element needs the helper. */
static __always_inline __u32 tgid_at_level(struct task_struct *t, unsigned int level)
{
	struct pid *p = t->group_leader->thread_pid;
	int nr = 0;
	if (!p || level > p->level || level > 32)
		return 0;
	bpf_probe_read_kernel(&nr, sizeof(nr), &p->numbers[level].nr);
	return nr;
}

static __always_inline void fill_hdr(struct ev_hdr *h, __u32 kind, __u64 cg, __u64 ts)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct task_struct *parent = t->real_parent;
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ug = bpf_get_current_uid_gid();
	unsigned int level = t->group_leader->thread_pid->level;
	h->ts = ts;
	h->cgroup_id = cg;
	h->kind = kind;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->ppid = parent->tgid;
	h->uid = (__u32)ug;
	h->gid = ug >> 32;
	h->ns_pid = tgid_at_level(t, level);
	h->ns_ppid = tgid_at_level(parent, level);
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 cg;
	if (!nwatched || !watched_cgroup(cpu_scratch(), &cg))
		return 0;
	struct exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(EV_EXEC);
		return 0;
	}
	fill_hdr(&e->h, EV_EXEC, cg, bpf_ktime_get_ns());
	e->truncated = 0;
	long n = bpf_probe_read_kernel_str(e->filename, PATH_LEN, bprm->filename);
	if (n < 0)
		e->filename[0] = 0;
	else if (n == PATH_LEN)
		e->truncated |= 2;
	/* The new image's argv block was just copied onto its stack by the
	 * kernel, so it is resident and readable here. */
	unsigned long start = p->mm->arg_start;
	unsigned long end = p->mm->arg_end;
	__u64 len = end > start ? end - start : 0;
	if (len > ARGS_LEN) {
		len = ARGS_LEN;
		e->truncated |= 1;
	}
	barrier_var(len); /* keep the bounded register: the verifier checks it */
	if (len && bpf_probe_read_user(e->args, len, (void *)start) < 0)
		len = 0;
	e->args_len = len;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP); /* see NO_WAKEUP_NOTE */
	return 0;
}

/*
 * NO_WAKEUP_NOTE: exec, fork and exit records are submitted without waking
 * the reader. An exec loop makes fork + exec + exit per iteration; waking
 * palisade-sensor (and through it Node) for each one costs the workload's
 * core extra context switches, and the pipeline then handles one record at a
 * time instead of a batch. The records stay in order in the ring and are
 * read at the next woken event (a file, network or refused-syscall event —
 * so a refusal is never read before the exec of its process) or, at the
 * latest, at the loader's periodic poll (POLL_MAX_MS in sensor.c, 50 ms).
 * Exec records were woken for until the measurement in docs/sensor.md
 * ("Filtering and cost") showed the exec loop's overhead drop without it.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u64 cg;
	if (!nwatched || child->pid != child->tgid) /* new threads are not processes */
		return 0;
	if (!watched_cgroup(cpu_scratch(), &cg))
		return 0;
	struct fork_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(EV_FORK);
		return 0;
	}
	fill_hdr(&e->h, EV_FORK, cg, bpf_ktime_get_ns());
	/* The header describes the parent (current); make it the child's. */
	e->h.ppid = e->h.pid;
	e->h.pid = child->tgid;
	e->h.tid = child->pid;
	unsigned int level = child->thread_pid->level;
	e->h.ns_ppid = tgid_at_level(parent, level);
	e->h.ns_pid = tgid_at_level(child, level);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP); /* see NO_WAKEUP_NOTE */
	return 0;
}

/* Only the first argument is declared: older kernels lack `group_dead`. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	__u64 cg;
	if (!nwatched || p->pid != p->tgid) /* report processes, not threads */
		return 0;
	if (!watched_cgroup(cpu_scratch(), &cg))
		return 0;
	struct exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(EV_EXIT);
		return 0;
	}
	fill_hdr(&e->h, EV_EXIT, cg, bpf_ktime_get_ns());
	e->exit_status = p->exit_code;
	e->pad = 0;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP); /* see NO_WAKEUP_NOTE */
	return 0;
}

/* The fd table is indexed by a runtime value and private_data is untyped,
 * so this path uses CO-RE probe reads rather than BTF pointer loads; it runs
 * only for network syscalls of watched cgroups. */
static __always_inline struct socket *sock_from_fd(long fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	struct file *f = NULL;
	if (fd < 0 || fd >= max)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	return BPF_CORE_READ(f, private_data);
}

/* Fill family/type/protocol, and the peer (remote=1) or local address. */
static __always_inline void from_socket(struct sys_key *k, struct socket *s, int remote)
{
	struct sock *sk = BPF_CORE_READ(s, sk);
	if (!sk)
		return;
	k->sock_type = BPF_CORE_READ(s, type);
	k->protocol = BPF_CORE_READ(sk, sk_protocol);
	k->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (k->family == AF_INET) {
		__u32 a = remote ? BPF_CORE_READ(sk, __sk_common.skc_daddr) : BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(k->addr, &a, 4);
	} else if (k->family == AF_INET6) {
		if (remote)
			BPF_CORE_READ_INTO(&k->addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		else
			BPF_CORE_READ_INTO(&k->addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
	}
	if (remote)
		k->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	else
		k->port = BPF_CORE_READ(sk, __sk_common.skc_num);
}

/* struct sockaddr_in / _in6 / _un as the process passed it. */
static __always_inline void from_sockaddr(struct sys_key *k, const void *uaddr)
{
	struct {
		__u16 family;
		__u16 port; /* network order */
		__u32 v4;   /* sin_addr; for in6 this is sin6_flowinfo */
		__u8 v6[16];
	} sa = {};
	if (!uaddr || bpf_probe_read_user(&sa, sizeof(sa), uaddr) < 0) {
		/* A short buffer at the end of a page: retry with sockaddr_in's size. */
		if (!uaddr || bpf_probe_read_user(&sa, 8, uaddr) < 0)
			return;
	}
	k->family = sa.family;
	if (sa.family == AF_INET) {
		k->port = bpf_ntohs(sa.port);
		__builtin_memcpy(k->addr, &sa.v4, 4);
	} else if (sa.family == AF_INET6) {
		k->port = bpf_ntohs(sa.port);
		__builtin_memcpy(k->addr, sa.v6, 16);
	} else if (sa.family == AF_UNIX) {
		/* Abstract socket names start with NUL; show them as "@name". */
		const char *p = (const char *)uaddr + 2;
		char first = 0;
		bpf_probe_read_user(&first, 1, p);
		if (first) {
			long n = bpf_probe_read_user_str(k->path, PATH_LEN, p);
			k->path_len = n > 0 ? n : 0;
		} else {
			k->path[0] = '@';
			long n = bpf_probe_read_user_str(&k->path[1], PATH_LEN - 1, p + 1);
			k->path_len = n > 0 ? n + 1 : 0;
		}
	}
}

static __always_inline void read_path(struct sys_key *k, const char *upath)
{
	long n = bpf_probe_read_user_str(k->path, PATH_LEN, upath);
	k->path_len = n > 0 ? n : 0;
}

#define FAST_MISSES 4

/*
 * Move a slot's repeats into the aggregation map `agg` (FAST_NOTE): added to
 * its key's entry, or, when the map has none, as a new entry holding them —
 * what drain_fast in sensor.c would print for such a slot. The map can lack
 * the key: a program that ran while user space swapped the maps may have
 * read the new generation but the old map, and filled the slot with a key
 * accounted in the old one (measured: that slot then stayed for the whole
 * interval and every other key missed it). Only a full map makes the slot
 * keep its repeats. `agg` is the map this program run fills: user space
 * drains a map only after the swap that retires it, which waits for running
 * programs, so the repeats are drained exactly once.
 */
static __always_inline int fast_fold(struct fast_slot *f, void *agg)
{
	struct agg_val *v = bpf_map_lookup_elem(agg, &f->key);
	if (!v) {
		if (bpf_map_update_elem(agg, &f->key, &f->val, BPF_NOEXIST))
			return 0;
		f->val.count = 0;
		return 1;
	}
	__sync_fetch_and_add(&v->count, f->val.count);
	if (f->val.last_ts > v->last_ts)
		v->last_ts = f->val.last_ts;
	f->val.count = 0;
	return 1;
}

/* Fill the fast slot with an accounted key (FAST_NOTE). A slot holding
 * repeats is kept unless FAST_MISSES other keys came in a row and its
 * repeats could be folded into the map. */
static __always_inline void fast_fill(struct fast_slot *f, __u32 gen, void *agg, const struct sys_key *k, const struct agg_val *v)
{
	if (f->valid && f->gen == gen && f->val.count && (f->misses < FAST_MISSES || !fast_fold(f, agg)))
		return;
	__builtin_memcpy(&f->key, k, sizeof(*k));
	f->val = *v;
	f->val.count = 0;
	f->gen = gen;
	f->valid = 1;
	f->jif = 0;
	f->misses = 0;
}

/* Fold into the current aggregation map, or emit the first occurrence.
 * With a fast slot (on_sys_exit), an accounted key is remembered in it. */
static __always_inline void emit_sys(struct sys_key *k, void *agg, struct fast_slot *f, __u32 gen)
{
	struct counters *c = ctrs();
	if (agg) {
		struct agg_val *v = bpf_map_lookup_elem(agg, k);
		if (v) {
			__sync_fetch_and_add(&v->count, 1);
			v->last_ts = bpf_ktime_get_ns();
			if (c)
				c->folded++;
			if (f)
				fast_fill(f, gen, agg, k, v);
			return;
		}
	}
	__u64 ts = bpf_ktime_get_ns();
	struct sys_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		/* Not inserted into the map (nor the fast slot) either, so the
		 * next identical event tries the ring again instead of being
		 * folded into a key whose first occurrence nobody saw. */
		count_drop(k->kind);
		return;
	}
	fill_hdr(&e->h, k->kind, k->cgroup_id, ts);
	bpf_probe_read_kernel(&e->k, sizeof(e->k), k);
	struct agg_val nv = {
		.count = 0,
		.first_ts = ts,
		.last_ts = ts,
		.tid = e->h.tid,
		.ppid = e->h.ppid,
		.gid = e->h.gid,
		.ns_pid = e->h.ns_pid,
		.ns_ppid = e->h.ns_ppid,
	};
	bpf_ringbuf_submit(e, 0);
	if (agg && bpf_map_update_elem(agg, k, &nv, BPF_NOEXIST) == -7 /* E2BIG: full */ && c)
		c->agg_full++;
	/* Also when the map was full: repeats then count in the slot rather
	 * than each going to the ring. Never without aggregation (--no-agg). */
	if (agg && f)
		fast_fill(f, gen, agg, k, &nv);
}

/* Equal keys (FAST_NOTE)? Both were zeroed before being filled, so words
 * past the path's NUL are zero in both: compare the fixed part and the path
 * up to path_len, 8 bytes at a time. */
static __always_inline int same_key(const struct sys_key *a, const struct sys_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	__u32 n = (__builtin_offsetof(struct sys_key, path) + (__u32)b->path_len + 7) / 8;
	for (__u32 i = 0; i < sizeof(*a) / 8; i++) {
		if (i >= n)
			break;
		if (x[i] != y[i])
			return 0;
	}
	return 1;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	if (!nwatched)
		return 0;
	long nr = SYSCALL_NR(regs);
	__u16 kind;
	if (nr == NR_openat || nr == NR_openat2 || nr == NR_open)
		kind = EV_FILE;
	else if (nr == NR_socket || nr == NR_connect || nr == NR_bind || nr == NR_accept || nr == NR_accept4)
		kind = EV_NET;
	else if ((nr == NR_execve || nr == NR_execveat) && ret < 0)
		kind = EV_EXECFAIL;
	else if (ret == -EPERM || ret == -EACCES)
		kind = EV_SYSCALL; /* a denial by seccomp, a capability check, an LSM... */
	else
		return 0;

	__u64 cg;
	struct cpu_scratch *cs = cpu_scratch();
	if (!cs || !watched_cgroup(cs, &cg))
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	if (is_compat(t))
		return 0;
	__u32 zero = 0;
	struct sys_key *k = &cs->k;
	__builtin_memset(k, 0, sizeof(*k)); /* padding and the path tail are hashed too */
	k->cgroup_id = cg;
	k->ret = ret;
	/* BTF loads rather than the pid/uid/comm helpers: ~100 ns less per event
	 * (the kernel keeps comm NUL-padded, as bpf_get_current_comm returns it). */
	k->pid = t->tgid;
	k->uid = t->cred->uid.val;
	__builtin_memcpy(k->comm, t->comm, sizeof(k->comm));
	k->nr = nr;
	k->kind = kind;

	if (kind == EV_FILE) {
		const char *path;
		if (nr == NR_open) {
			k->fd = AT_FDCWD;
			path = (const char *)ARG0(regs);
			k->flags = ARG1(regs);
			k->mode = ARG2(regs);
		} else if (nr == NR_openat) {
			k->fd = ARG0(regs);
			path = (const char *)ARG1(regs);
			k->flags = ARG2(regs);
			k->mode = ARG3(regs);
		} else {
			struct { __u64 flags, mode, resolve; } how = {};
			k->fd = ARG0(regs);
			path = (const char *)ARG1(regs);
			bpf_probe_read_user(&how, sizeof(how), (void *)ARG2(regs));
			k->flags = how.flags;
			k->mode = how.mode;
		}
		/* mode is garbage unless a file may be created; keep it out of the key. */
		if (!(k->flags & (O_CREAT | O_TMPFILE_BIT)))
			k->mode = 0;
		read_path(k, path);
	} else if (kind == EV_NET) {
		if (nr == NR_socket) {
			k->family = ARG0(regs);
			k->flags = ARG1(regs);
			k->sock_type = ARG1(regs) & 0xf;
			k->protocol = ARG2(regs);
			k->fd = ret;
		} else if (nr == NR_connect || nr == NR_bind) {
			struct socket *s;
			k->fd = ARG0(regs);
			s = sock_from_fd(k->fd);
			if (s) {
				struct sock *sk = BPF_CORE_READ(s, sk);
				k->sock_type = BPF_CORE_READ(s, type);
				if (sk)
					k->protocol = BPF_CORE_READ(sk, sk_protocol);
			}
			from_sockaddr(k, (const void *)ARG1(regs));
		} else {
			/* accept: the peer of the new socket, or the listener's own
			 * address when it failed. Read from the kernel socket so it
			 * works when the caller passed no sockaddr buffer. */
			struct socket *s;
			k->fd = ARG0(regs);
			if (nr == NR_accept4)
				k->flags = ARG3(regs);
			s = sock_from_fd(ret >= 0 ? ret : k->fd);
			if (s)
				from_socket(k, s, ret >= 0);
		}
	} else if (kind == EV_EXECFAIL) {
		if (nr == NR_execve) {
			k->fd = AT_FDCWD;
			read_path(k, (const char *)ARG0(regs));
		} else {
			k->fd = ARG0(regs);
			k->flags = ARG4(regs);
			read_path(k, (const char *)ARG1(regs));
		}
	}
	void *agg = bpf_map_lookup_elem(&agg_cur, &zero);
	__u32 gen = agg_gen;
	__u32 slot = gen & 1;
	struct fast_slot *f = agg ? bpf_map_lookup_elem(&fast, &slot) : NULL;
	if (f && f->valid && f->gen == gen) {
		if (same_key(&f->key, k)) {
			/* per-CPU, preemption off: no atomics needed */
			f->val.count++;
			f->hits++;
			if (f->misses)
				f->misses = 0;
			/* The clock costs as much as the rest of this path in a VM: read it
			 * once per tick, so last_ts may be up to one tick (1/HZ) early. */
			__u64 j = bpf_jiffies64();
			if (j != f->jif) {
				f->jif = j;
				f->val.last_ts = bpf_ktime_get_ns();
			}
			return 0;
		}
		if (f->misses < FAST_MISSES)
			f->misses++;
	}
	emit_sys(k, agg, f, gen);
	return 0;
}

/* [start, end) of cap_vm_enough_memory and security_vm_enough_memory_mm in
 * kernel text (the compiler may fold the first into its caller, so either can
 * be the return address above cap_capable), set by the loader from
 * /proc/kallsyms; 0: unknown, nothing is left out. */
#define PROBE_FNS 2
const volatile __u64 probe_lo[PROBE_FNS] = {};
const volatile __u64 probe_hi[PROBE_FNS] = {};
#define CAP_SYS_ADMIN 21
#define PROBE_FRAMES 6

/*
 * Capability checks (security/commoncap.c: cap_capable, tracepoint added in
 * Linux 6.14). This fires for every capable()/ns_capable() on the host —
 * far more often than watched syscalls — so the unwatched path is the same
 * two tests as the other hooks. Aggregated like syscall events (EV_CAP in
 * sensor.h): a process checking CAP_SYS_ADMIN on every mmap is one line per
 * flush interval with a count.
 *
 * The tracepoint has no CAP_OPT_NOAUDIT flag, so probes the kernel makes
 * without meaning a refusal (cap_vm_enough_memory's CAP_SYS_ADMIN on mmap,
 * CAP_DAC_READ_SEARCH before CAP_DAC_OVERRIDE) arrive too; ret says honestly
 * whether the task held the capability, not whether the syscall failed.
 * The one that drowns everything else is left out: cap_vm_enough_memory asks
 * for CAP_SYS_ADMIN (against the host's namespace) on every clone, execve,
 * mmap and brk of every process, only to size an overcommit reserve. It is
 * recognised by its return address on the kernel stack, only for
 * CAP_SYS_ADMIN checks, and counted in counters.cap_probes.
 *
 * PROBE_SHORTCUT: the stack walk (bpf_get_stack) costs ≈ 1 µs, and a fork +
 * exec makes about ten of these probes. A CAP_SYS_ADMIN check against the
 * initial user namespace (level 0) during brk, mprotect, mremap, execve or
 * execveat is taken as the probe without the walk: in those syscalls the
 * kernel asks for CAP_SYS_ADMIN there only to size the overcommit reserve
 * (do_brk_flags, mprotect_fixup, vma_to_resize and the exec path's stack
 * and ELF mappings of regular files reach security_vm_enough_memory_mm;
 * what else they check is CAP_IPC_LOCK or CAP_SYS_PTRACE). mmap still
 * walks — a device driver's mmap handler may ask for CAP_SYS_ADMIN for
 * real — and so do clone (namespaces) and page faults.
 */
SEC("tp_btf/cap_capable")
int BPF_PROG(on_cap_capable, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	__u64 cg;
	struct cpu_scratch *cs;
	if (!nwatched || !(cs = cpu_scratch()) || !watched_cgroup(cs, &cg))
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	/* Only the task's own credentials: overlayfs copy-up and other
	 * override_creds() users check the *mounter's* capabilities while the
	 * workload runs, and has_capability(other task) checks someone else's.
	 * Neither is the workload using a capability. */
	if ((__u64)cred != (__u64)t->cred)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t);
	long nr = regs && !is_compat(t) ? SYSCALL_NR(regs) : -1;
	if (cap == CAP_SYS_ADMIN && probe_lo[0] && target_ns->level == 0 /* the initial user namespace */ &&
	    (nr == NR_brk || nr == NR_mremap || nr == NR_mprotect || nr == NR_execve || nr == NR_execveat)) {
		/* PROBE_SHORTCUT: the probe without the stack walk. */
		struct counters *c = ctrs();
		if (c)
			c->cap_probes++;
		return 0;
	}
	if (cap == CAP_SYS_ADMIN && probe_lo[0]) {
		/* Frames: this program, bpf_trace_run5, __bpf_trace_cap_capable,
		 * cap_capable, then its caller. */
		__u64 ips[PROBE_FRAMES] = {};
		long n = bpf_get_stack(ctx, ips, sizeof(ips), 0);
		for (int i = 0; i < PROBE_FRAMES; i++) {
			for (int f = 0; f < PROBE_FNS; f++) {
				if (i * 8 < n && ips[i] >= probe_lo[f] && ips[i] < probe_hi[f]) {
					struct counters *c = ctrs();
					if (c)
						c->cap_probes++;
					return 0;
				}
			}
		}
	}
	__u32 zero = 0;
	struct sys_key *k = &cs->k;
	__builtin_memset(k, 0, sizeof(*k)); /* the key is hashed whole */
	k->cgroup_id = cg;
	k->kind = EV_CAP;
	k->ret = ret;
	k->fd = cap;
	k->pid = bpf_get_current_pid_tgid() >> 32;
	k->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(k->comm, sizeof(k->comm));
	if ((__u64)target_ns == (__u64)cred->user_ns)
		k->flags = CAP_FLAG_OWN_USERNS;
	k->nr = nr >= 0 ? (__u32)nr : CAP_NO_SYSCALL;
	emit_sys(k, bpf_map_lookup_elem(&agg_cur, &zero), NULL, 0);
	return 0;
}
