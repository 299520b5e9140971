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
#define NR_clone 56
#define NR_fork 57
#define NR_vfork 58
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
#define NR_clone 220
#define NR_fork -2 /* arm64 has only clone and clone3 */
#define NR_vfork -2
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

/* The programs, in three parts (one object: no BPF linking in the build). */
#include "process.bpf.h"
#include "syscalls.bpf.h"
#include "capable.bpf.h"
