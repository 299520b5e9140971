/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * capable.bpf.h: part of sensor.bpf.c (one BPF object: this file is included by
 * it, after its maps and helpers, never compiled alone). Capability
 * checks (tp_btf/cap_capable) and the overcommit-probe filter.
 */

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
 * what else they check is CAP_IPC_LOCK or CAP_SYS_PTRACE). The same holds
 * for fork, vfork and a clone without namespace flags (CLONE_NS_FLAGS): the
 * probes there come from copying the address space, about six per fork of
 * a small server (≈ 25 µs of walks per request on the confinement
 * benchmark's server). One real check is taken for a probe too: a fork over
 * RLIMIT_NPROC asks for CAP_SYS_RESOURCE, then CAP_SYS_ADMIN — the first is
 * still reported. mmap still walks — a device driver's mmap handler may ask
 * for CAP_SYS_ADMIN for real — and so do clone3 (its flags are in user
 * memory), clones that make namespaces and page faults.
 */
#define CLONE_NS_FLAGS 0x6e020000 /* CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWPID|NEWNET */
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
	    (nr == NR_brk || nr == NR_mremap || nr == NR_mprotect || nr == NR_execve || nr == NR_execveat || nr == NR_fork || nr == NR_vfork ||
	     (nr == NR_clone && !(ARG0(regs) & CLONE_NS_FLAGS)))) {
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
	struct proc_info *pi = proc_of(t);
	k->pid = ret == 0 ? inst_of(pi, t) : (__u32)t->tgid; /* INSTANCE_NOTE */
	k->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(k->comm, sizeof(k->comm));
	if ((__u64)target_ns == (__u64)cred->user_ns)
		k->flags = CAP_FLAG_OWN_USERNS;
	k->nr = nr >= 0 ? (__u32)nr : CAP_NO_SYSCALL;
	emit_sys(k, bpf_map_lookup_elem(&agg_cur, &zero), NULL, 0, pi, 0);
	return 0;
}
