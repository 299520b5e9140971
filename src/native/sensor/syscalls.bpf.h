/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * syscalls.bpf.h: part of sensor.bpf.c (one BPF object: this file is included by
 * it, after its maps and helpers, never compiled alone). Syscall
 * events: on_sys_exit, the key it builds, the fast slot and the aggregation
 * maps (emit_sys, also used by capable.bpf.h).
 */

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
	if (f->val.others)
		__sync_fetch_and_add(&v->others, f->val.others);
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
	f->val.others = 0;
	f->gen = gen;
	f->valid = 1;
	f->jif = 0;
	f->misses = 0;
}

/* Fold into the current aggregation map, or emit the first occurrence
 * (after its process's pending fork, LAZY_FORK_NOTE). With a fast slot
 * (on_sys_exit), an accounted key is remembered in it. `port`: the record's
 * port when the key leaves it out (ACCEPT_NOTE). */
static __always_inline void emit_sys(struct sys_key *k, void *agg, struct fast_slot *f, __u32 gen, struct proc_info *pi, __u16 port)
{
	struct counters *c = ctrs();
	__u32 tgid = bpf_get_current_task_btf()->tgid;
	if (agg) {
		struct agg_val *v = bpf_map_lookup_elem(agg, k);
		if (v) {
			__sync_fetch_and_add(&v->count, 1);
			if (v->pid != tgid)
				__sync_fetch_and_add(&v->others, 1);
			v->last_ts = bpf_ktime_get_ns();
			if (c)
				c->folded++;
			if (f)
				fast_fill(f, gen, agg, k, v);
			return;
		}
	}
	announce(pi);
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
	if (port)
		e->k.port = port;
	struct agg_val nv = {
		.count = 0,
		.first_ts = ts,
		.last_ts = ts,
		.pid = tgid,
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
	__u16 port = 0;
	struct sys_key *k = &cs->k;
	__builtin_memset(k, 0, sizeof(*k)); /* padding and the path tail are hashed too */
	k->cgroup_id = cg;
	k->ret = ret;
	/* BTF loads rather than the pid/uid/comm helpers: ~100 ns less per event
	 * (the kernel keeps comm NUL-padded, as bpf_get_current_comm returns it). */
	struct proc_info *pi = proc_of(t);
	k->pid = ret != -EPERM && ret != -EACCES ? inst_of(pi, t) : (__u32)t->tgid; /* INSTANCE_NOTE */
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
			/* ACCEPT_NOTE: the peer's port is the client's ephemeral
			 * choice: out of the key, so a server's accepts from one
			 * address fold into one line per interval; the record
			 * shows the first connection's port, repeats none. */
			if (ret >= 0) {
				port = k->port;
				k->port = 0;
			}
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
			if ((__u32)t->tgid != f->val.pid)
				f->val.others++;
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
	emit_sys(k, agg, f, gen, pi, port);
	return 0;
}
