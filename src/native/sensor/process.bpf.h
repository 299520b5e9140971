/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * process.bpf.h: part of sensor.bpf.c (one BPF object: this file is included by
 * it, after its maps and helpers, never compiled alone). The process
 * tree: exec, fork and exit, program instances and lazily reported forks.
 */

/*
 * INSTANCE_NOTE: a program instance is what one exec started: the process
 * that exec'd and the children it forks without exec'ing (a server forking
 * per connection, a shell's subshells). The aggregation key holds the
 * instance rather than the pid, so the same operation by a server's
 * per-connection children is one line per flush interval with a count —
 * the record names the first process (agg_val.pid) and says how many of
 * the repeats were other processes' (agg_val.others). Refusals keep the
 * pid: every process a backend refused is named. Measured on the
 * confinement benchmark's server (busybox httpd: fork, accept, two opens
 * per request) in docs/sensor.md, "Filtering and cost".
 *
 * LAZY_FORK_NOTE: a fork is reported when the child first has a record of
 * its own (an event that was not folded, an exec, or the fork of a child
 * of its own — a parent is always reported before its child), not when it
 * happens; a child that exits without one is left out with its exit and
 * counted in counters.quiet. Its events are in its instance's counts, and
 * an exit by a signal (a seccomp kill, say) is always reported. The fork
 * record keeps the time and parent of the fork itself.
 */
struct proc_info {
	struct ev_hdr fork; /* the fork record, until reported */
	__u32 inst;         /* the instance: the tgid of the process whose exec this one runs */
	__u32 pending;      /* `fork` not reported yet */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct proc_info);
} procs SEC(".maps");

/* The thread-group leader's proc_info (only watched processes forked or
 * exec'd since the watch have one). */
static __always_inline struct proc_info *proc_of(struct task_struct *t)
{
	struct task_struct *leader = t->group_leader;
	return leader ? bpf_task_storage_get(&procs, leader, 0, 0) : NULL;
}

/* t's instance: its proc_info's, else its own tgid. Two loads the compiler
 * must not merge into one through either pointer (the verifier refuses). */
static __always_inline __u32 inst_of(struct proc_info *pi, struct task_struct *t)
{
	__u32 inst = t->tgid;
	barrier_var(inst);
	if (pi)
		inst = pi->inst;
	return inst;
}

/* Report a pending fork (LAZY_FORK_NOTE). A lost record is counted once. */
static __always_inline void announce(struct proc_info *pi)
{
	if (!pi || !pi->pending)
		return;
	pi->pending = 0;
	struct fork_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(EV_FORK);
		return;
	}
	e->h = pi->fork;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP); /* see NO_WAKEUP_NOTE */
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 cg;
	if (!nwatched || !watched_cgroup(cpu_scratch(), &cg))
		return 0;
	struct proc_info *pi = bpf_task_storage_get(&procs, p, 0, 0);
	if (pi) {
		announce(pi);
		pi->inst = p->tgid; /* a new program: a new instance */
	}
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
	struct proc_info *pp = proc_of(parent);
	announce(pp); /* a parent is reported before its child */
	struct ev_hdr h;
	fill_hdr(&h, EV_FORK, cg, bpf_ktime_get_ns());
	/* The header describes the parent (current); make it the child's. */
	h.ppid = h.pid;
	h.pid = child->tgid;
	h.tid = child->pid;
	unsigned int level = child->thread_pid->level;
	h.ns_ppid = tgid_at_level(parent, level);
	h.ns_pid = tgid_at_level(child, level);
	struct proc_info *ci = bpf_task_storage_get(&procs, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!ci) {
		/* No storage (memory): report the fork now, as its own instance. */
		struct fork_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			count_drop(EV_FORK);
			return 0;
		}
		e->h = h;
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP); /* see NO_WAKEUP_NOTE */
		return 0;
	}
	ci->fork = h;
	ci->inst = inst_of(pp, parent);
	ci->pending = 1;
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
	struct proc_info *pi = bpf_task_storage_get(&procs, p, 0, 0);
	if (pi && pi->pending) {
		if (!(p->exit_code & 0x7f)) {
			/* Never reported, not killed: left out (LAZY_FORK_NOTE). */
			pi->pending = 0;
			struct counters *c = ctrs();
			if (c)
				c->quiet++;
			return 0;
		}
		announce(pi);
	}
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
