/* SPDX-License-Identifier: Apache-2.0 */
/*
 * palisade-sensor: loads sensor.bpf.c, watches the cgroups it is told about,
 * and prints one JSON object per line on stdout (event schema: emit.c).
 *
 *   palisade-sensor [--cgroup-id ID | --cgroup PATH]... [--ringbuf-kb N]
 *                   [--agg-entries N] [--no-agg] [--flush-ms N]
 *                   [--stats-ms N] [--keep-on-eof] [--no-capabilities]
 *
 * Commands on stdin, one per line, each answered by an "ack" line in order:
 *   watch ID|PATH     start reporting a cgroup v2 (id, or its cgroupfs path)
 *   unwatch ID|PATH   stop
 *   flush             report aggregated repeats now (then a stats line)
 *   stats             print a stats line now
 *   quit              exit (as do SIGTERM, SIGINT and, unless --keep-on-eof,
 *                     end of stdin — so the sensor never outlives its parent)
 * Control lines:
 *   {"type":"ready","source":"bpf","schema":1,"pid":N,"ringbufBytes":N,...,
 *    "capabilities":bool,"capabilitiesOff":"why"}  (capability events: the
 *    cap_capable tracepoint exists (Linux >= 6.14) and --no-capabilities is unset)
 *   {"type":"ack","source":"bpf","cmd":"watch","arg":"…","ok":true,"cgroupId":"…"}
 *     (ok:false with "error" on failure)
 *   {"type":"stats","source":"bpf","received":N,"dropped":N,"events":N,
 *    "repeats":N,"droppedByKind":{…},"folded":N,"fastHits":N,"aggFull":N,"watched":N}
 *     received = ring-buffer records read; events = occurrences they stand for
 *     (records + aggregated repeats); fastHits = repeats the per-CPU fast path
 *     counted (part of folded; both as of the last flush for those); dropped = occurrences lost because the
 *     ring buffer was full (counted in the kernel, per CPU, never silent)
 *   {"type":"error","source":"bpf","message":"…","fatal":bool}
 * Exit status: 0 normal, 1 usage, 2 the BPF programs could not be loaded or
 * attached (no BTF, no tp_btf, not root), 3 runtime failure.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cap_setup.h"
#include "emit.h"
#include "sensor.skel.h"

/* Longest a record submitted without wakeup waits in the ring before we read it. */
#define POLL_MAX_MS 50

#define CGROUP2_SUPER_MAGIC 0x63677270
#define DRAIN_BATCH 256

static volatile sig_atomic_t stop;
static struct emit_ctx ctx;
static struct sensor_bpf *skel;
static struct ring_buffer *rb;
static int agg_fd[2] = { -1, -1 }, agg_cur_idx; /* which of agg_a/agg_b the kernel fills */
static int aggregate = 1;

static const char *const STAT_KIND[EV_MAX] = {
	"none", "exec", "fork", "exit", "file", "net", "execFail", "syscall", "capability",
};

static void on_signal(int sig) { stop = 1; }

static int usage(void)
{
	fprintf(stderr, "usage: palisade-sensor [--cgroup-id ID | --cgroup PATH]... [--ringbuf-kb N] [--agg-entries N]\n"
			"                       [--no-agg] [--flush-ms N] [--stats-ms N] [--keep-on-eof] [--no-capabilities]\n");
	return 1;
}

static void error_line(const char *msg, int fatal)
{
	jb_begin(&ctx.jb, "error", "bpf");
	jb_str(&ctx.jb, "message", msg);
	jb_bool(&ctx.jb, "fatal", fatal);
	jb_line(&ctx.jb, ctx.out);
	fflush(ctx.out);
	fprintf(stderr, "palisade-sensor: %s\n", msg);
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* The verifier log is printed at warning level on a failed load: keep it
	 * on stderr for humans; stdout stays JSON. */
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, ap);
}

static int parse_u64(const char *s, unsigned long long *v)
{
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end ? -1 : 0;
}

/* A cgroup v2 id, given as a number or as a cgroupfs directory. */
static int resolve_cgroup(const char *arg, __u64 *id, char *err, size_t n)
{
	unsigned long long v;
	if (arg[0] != '/') {
		if (parse_u64(arg, &v) || v == 0) {
			snprintf(err, n, "not a cgroup id or absolute path: %s", arg);
			return -1;
		}
		*id = v;
		return 0;
	}
	struct statfs sfs;
	struct stat st;
	if (statfs(arg, &sfs) || stat(arg, &st)) {
		snprintf(err, n, "%s: %s", arg, strerror(errno));
		return -1;
	}
	if (sfs.f_type != CGROUP2_SUPER_MAGIC || !S_ISDIR(st.st_mode)) {
		snprintf(err, n, "%s is not a cgroup v2 directory (on hybrid hosts use /sys/fs/cgroup/unified/...)", arg);
		return -1;
	}
	*id = st.st_ino; /* the cgroup id is the kernfs inode number */
	return 0;
}

/* Returns once every BPF program that was running has finished: updating a
 * map-in-map slot makes the kernel wait for an RCU grace period
 * (kernel/bpf/syscall.c: maybe_wait_bpf_programs), and our programs run
 * inside RCU read sections. rcu_wait exists only for this. */
static int wait_for_programs(void)
{
	__u32 zero = 0;
	return bpf_map_update_elem(bpf_map__fd(skel->maps.rcu_wait), &zero, &agg_fd[0], BPF_ANY);
}

/* WATCH_CACHE (sensor.bpf.c): programs keep the answer for the last cgroup
 * per CPU, tagged with watch_gen. The generation is bumped only after every
 * program that may have read the old map finished, so an answer cached
 * from the old map always carries an old generation. */
static int set_watch(__u64 id, int on, char *err, size_t n)
{
	int fd = bpf_map__fd(skel->maps.watched);
	__u8 one = 1;
	if (on) {
		if (bpf_map_update_elem(fd, &id, &one, BPF_NOEXIST) == 0)
			skel->bss->nwatched++;
		else if (errno != EEXIST) {
			snprintf(err, n, "cannot watch cgroup %llu: %s", (unsigned long long)id,
				 errno == E2BIG ? "too many watched cgroups" : strerror(errno));
			return -1;
		}
	} else if (bpf_map_delete_elem(fd, &id) == 0) {
		skel->bss->nwatched--;
	} else {
		return 0;
	}
	if (wait_for_programs())
		error_line("cannot wait for running BPF programs after a watch change; the change may take effect late on a CPU", 0);
	__atomic_store_n(&skel->bss->watch_gen, skel->bss->watch_gen + 1, __ATOMIC_SEQ_CST);
	return 0;
}

static int on_record(void *c, void *data, size_t size)
{
	return emit_record(c, data, size) ? -1 : 0;
}

static int drain_map(int fd)
{
	static struct sys_key keys[DRAIN_BATCH];
	static struct agg_val vals[DRAIN_BATCH];
	__u64 in = 0, out = 0; /* opaque batch cursor (a bucket index for hash maps) */
	int first = 1;
	for (;;) {
		__u32 count = DRAIN_BATCH;
		int r = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &in, &out, keys, vals, &count, NULL);
		int e = errno;
		for (__u32 i = 0; i < count; i++)
			if (vals[i].count && emit_repeat(&ctx, &keys[i], &vals[i]))
				return -1;
		if (r == 0) {
			in = out;
			first = 0;
			continue;
		}
		if (e == ENOENT)
			return 0;
		/* Batch ops missing (old kernel) or a bucket larger than the batch:
		 * fall back to one key at a time. No program writes this map now. */
		struct sys_key k;
		struct agg_val v;
		while (bpf_map_get_next_key(fd, NULL, &k) == 0) {
			if (bpf_map_lookup_elem(fd, &k, &v) == 0 && v.count && emit_repeat(&ctx, &k, &v))
				return -1;
			bpf_map_delete_elem(fd, &k);
		}
		return 0;
	}
}

/* Repeats the fast slots counted, summed at each drain (the slots' `hits`). */
static __u64 fast_hits;

/* FAST_NOTE (sensor.bpf.c): after the swap no program uses the per-CPU fast
 * slots of generation `gen` any more; add their repeats to the old map's
 * entry for the same key (or print them alone when the map has none, e.g.
 * it was full), then zero the slots for generation gen + 2. */
static int drain_fast(__u32 gen, int map_fd)
{
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(skel->maps.fast), rc = 0;
	__u32 slot = gen & 1;
	if (ncpu <= 0)
		return 0;
	struct fast_slot *f = calloc(ncpu, sizeof(*f));
	if (!f)
		return 0; /* the next drain of this slot reports them */
	if (bpf_map_lookup_elem(fd, &slot, f) == 0) {
		for (int c = 0; c < ncpu && !rc; c++) {
			struct agg_val v;
			if (!f[c].valid || f[c].gen != gen)
				continue;
			fast_hits += f[c].hits;
			if (!f[c].val.count)
				continue;
			if (bpf_map_lookup_elem(map_fd, &f[c].key, &v) == 0) {
				v.count += f[c].val.count;
				v.others += f[c].val.others;
				if (f[c].val.last_ts > v.last_ts)
					v.last_ts = f[c].val.last_ts;
				if (bpf_map_update_elem(map_fd, &f[c].key, &v, BPF_EXIST) == 0)
					continue;
			}
			rc = emit_repeat(&ctx, &f[c].key, &f[c].val);
		}
		memset(f, 0, ncpu * sizeof(*f));
		bpf_map_update_elem(fd, &slot, f, BPF_ANY);
	}
	free(f);
	return rc;
}

/* Point the kernel at the other aggregation map, then report and empty the
 * one it was filling. The map-in-map update returns only after every running
 * BPF program has finished (the kernel waits for an RCU grace period on
 * ARRAY_OF_MAPS updates), so no increment can land in the old map after we
 * read it: counts are exact. The generation is bumped before the swap, so
 * programs that start after it use the other fast slots (FAST_NOTE). */
static int swap_and_drain(void)
{
	__u32 zero = 0, gen = skel->bss->agg_gen;
	int old = agg_cur_idx;
	if (aggregate) {
		__atomic_store_n(&skel->bss->agg_gen, gen + 1, __ATOMIC_SEQ_CST);
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.agg_cur), &zero, &agg_fd[!old], BPF_ANY)) {
			/* Back to gen: slots a program filled meanwhile are labelled
			 * gen + 1 and drained after the next successful swap. */
			__atomic_store_n(&skel->bss->agg_gen, gen, __ATOMIC_SEQ_CST);
			error_line("cannot swap aggregation maps", 0);
			return 0;
		}
		agg_cur_idx = !old;
	}
	/* First occurrences are in the ring: print them before their repeats. */
	if (ring_buffer__consume(rb) < 0)
		return -1;
	if (aggregate && drain_fast(gen, agg_fd[old]))
		return -1;
	return aggregate ? drain_map(agg_fd[old]) : 0;
}

static int stats_line(void)
{
	int ncpu = libbpf_num_possible_cpus();
	struct counters *pc = calloc(ncpu > 0 ? ncpu : 1, sizeof(*pc));
	struct counters sum = { 0 };
	__u32 zero = 0;
	if (pc && ncpu > 0 && bpf_map_lookup_elem(bpf_map__fd(skel->maps.counters), &zero, pc) == 0) {
		for (int c = 0; c < ncpu; c++) {
			for (int k = 0; k < EV_MAX; k++)
				sum.dropped[k] += pc[c].dropped[k];
			sum.folded += pc[c].folded;
			sum.agg_full += pc[c].agg_full;
			sum.cap_probes += pc[c].cap_probes;
			sum.quiet += pc[c].quiet;
		}
	}
	free(pc);
	__u64 dropped = 0;
	for (int k = 0; k < EV_MAX; k++)
		dropped += sum.dropped[k];
	ctx.clock_off = (int64_t)(realtime_ns() - monotonic_ns());
	struct jb *j = &ctx.jb;
	jb_begin(j, "stats", "bpf");
	jb_time(j, "time", realtime_ns());
	jb_uint(j, "received", ctx.received);
	jb_uint(j, "dropped", dropped);
	jb_uint(j, "events", ctx.events);
	jb_uint(j, "repeats", ctx.repeats);
	jb_obj_begin(j, "droppedByKind");
	for (int k = 1; k < EV_MAX; k++)
		jb_uint(j, STAT_KIND[k], sum.dropped[k]);
	jb_obj_end(j);
	jb_obj_begin(j, "eventsByKind");
	for (int k = 1; k < EV_MAX; k++)
		jb_uint(j, STAT_KIND[k], ctx.by_kind[k]);
	jb_obj_end(j);
	/* Fast-path repeats are known only once their slots are drained (every
	 * flush): these two may trail by one flush interval. */
	jb_uint(j, "folded", sum.folded + fast_hits);
	jb_uint(j, "fastHits", fast_hits);
	jb_uint(j, "aggFull", sum.agg_full);
	jb_uint(j, "capProbes", sum.cap_probes);
	jb_uint(j, "quietProcesses", sum.quiet);
	jb_uint(j, "badRecords", ctx.bad_records);
	jb_uint(j, "watched", skel->bss->nwatched);
	return jb_line(j, ctx.out);
}

static void ack(const char *cmd, const char *arg, int ok, const char *err, __u64 id)
{
	struct jb *j = &ctx.jb;
	jb_begin(j, "ack", "bpf");
	jb_str(j, "cmd", cmd);
	jb_str(j, "arg", arg);
	jb_bool(j, "ok", ok);
	if (!ok)
		jb_str(j, "error", err);
	if (id)
		jb_u64str(j, "cgroupId", id);
	jb_line(j, ctx.out);
}

static int command(char *line)
{
	char err[512] = "";
	char *cmd = strtok(line, " \t\r"), *arg = strtok(NULL, " \t\r");
	__u64 id = 0;
	if (!cmd)
		return 0;
	if (!arg)
		arg = "";
	if (!strcmp(cmd, "watch") || !strcmp(cmd, "unwatch")) {
		int ok = resolve_cgroup(arg, &id, err, sizeof(err)) == 0 &&
			 set_watch(id, cmd[0] == 'w', err, sizeof(err)) == 0;
		ack(cmd, arg, ok, err, ok ? id : 0);
	} else if (!strcmp(cmd, "flush")) {
		if (swap_and_drain() || stats_line())
			return -1;
		ack(cmd, arg, 1, NULL, 0);
	} else if (!strcmp(cmd, "stats")) {
		if (stats_line())
			return -1;
		ack(cmd, arg, 1, NULL, 0);
	} else if (!strcmp(cmd, "quit")) {
		ack(cmd, arg, 1, NULL, 0);
		stop = 1;
	} else {
		ack(cmd, arg, 0, "unknown command (watch, unwatch, flush, stats, quit)", 0);
	}
	return 0;
}

/* Reads what stdin has; runs complete lines. Returns 1 at end of input. */
static int read_commands(void)
{
	static char buf[4096];
	static size_t len;
	ssize_t n = read(0, buf + len, sizeof(buf) - 1 - len);
	if (n == 0)
		return 1;
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : 1;
	len += n;
	buf[len] = 0;
	char *start = buf, *nl;
	while ((nl = memchr(start, '\n', buf + len - start))) {
		*nl = 0;
		if (command(start))
			stop = 1;
		start = nl + 1;
	}
	len -= start - buf;
	memmove(buf, start, len);
	if (len == sizeof(buf) - 1)
		len = 0; /* an absurdly long line: discard it */
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long ringbuf_kb = 1024, agg_entries = 2048, flush_ms = 1000, stats_ms = 5000, v;
	int keep_on_eof = 0, nids = 0, caps = 1;
	const char *ids[MAX_WATCHED];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--no-agg")) { aggregate = 0; continue; }
		if (!strcmp(a, "--keep-on-eof")) { keep_on_eof = 1; continue; }
		if (!strcmp(a, "--no-capabilities")) { caps = 0; continue; }
		if (!val)
			return usage();
		i++;
		if ((!strcmp(a, "--cgroup-id") || !strcmp(a, "--cgroup")) && nids < MAX_WATCHED)
			ids[nids++] = val;
		else if (parse_u64(val, &v))
			return usage();
		else if (!strcmp(a, "--ringbuf-kb")) ringbuf_kb = v;
		else if (!strcmp(a, "--agg-entries")) agg_entries = v;
		else if (!strcmp(a, "--flush-ms")) flush_ms = v;
		else if (!strcmp(a, "--stats-ms")) stats_ms = v;
		else return usage();
	}
	/* The ring buffer size must be a power-of-two number of pages. */
	if (ringbuf_kb < 4 || (ringbuf_kb & (ringbuf_kb - 1)) || agg_entries < 1 || !flush_ms || !stats_ms) {
		fprintf(stderr, "palisade-sensor: --ringbuf-kb must be a power of two >= 4; other values > 0\n");
		return 1;
	}

	ctx.out = stdout;
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN); /* a closed stdout shows up as a write error */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	libbpf_set_print(libbpf_log);
	ctx.clock_off = (int64_t)(realtime_ns() - monotonic_ns());

	char err[512];
	skel = sensor_bpf__open();
	if (!skel) {
		error_line("cannot open the BPF object", 1);
		return 2;
	}
	const char *caps_off = caps ? cap_hook_unavailable() : "--no-capabilities";
	if (caps_off)
		bpf_program__set_autoload(skel->progs.on_cap_capable, false);
	else {
		/* See on_cap_capable: cap_vm_enough_memory's CAP_SYS_ADMIN probe. */
		static const char *const probe_fns[] = { "cap_vm_enough_memory", "security_vm_enough_memory_mm" };
		__u64 *lo = (__u64 *)skel->rodata->probe_lo, *hi = (__u64 *)skel->rodata->probe_hi;
		kernel_fn_ranges(probe_fns, 2, lo, hi);
		if (!hi[0] || !hi[1])
			lo[0] = lo[1] = 0; /* both or none: a half filter would be a surprise */
	}
	bpf_map__set_max_entries(skel->maps.events, ringbuf_kb * 1024);
	bpf_map__set_max_entries(skel->maps.agg_a, agg_entries);
	bpf_map__set_max_entries(skel->maps.agg_b, agg_entries);
	/* The inner-map template keeps its size: the kernel does not compare
	 * max_entries of hash maps in a map-in-map (and libbpf 1.1 cannot resize
	 * a template). */
	int r = sensor_bpf__load(skel);
	if (!r)
		r = sensor_bpf__attach(skel);
	if (r) {
		snprintf(err, sizeof(err), "cannot load/attach the BPF programs: %s (needs root, BTF and tp_btf tracepoints; the verifier log is on stderr)",
			 strerror(-r));
		error_line(err, 1);
		sensor_bpf__destroy(skel);
		return 2;
	}
	agg_fd[0] = bpf_map__fd(skel->maps.agg_a);
	agg_fd[1] = bpf_map__fd(skel->maps.agg_b);
	if (!aggregate) {
		__u32 zero = 0; /* an empty slot: the kernel emits every event */
		bpf_map_delete_elem(bpf_map__fd(skel->maps.agg_cur), &zero);
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, &ctx, NULL);
	if (!rb) {
		error_line("cannot open the ring buffer", 1);
		sensor_bpf__destroy(skel);
		return 2;
	}
	for (int i = 0; i < nids; i++) {
		__u64 id;
		if (resolve_cgroup(ids[i], &id, err, sizeof(err)) || set_watch(id, 1, err, sizeof(err))) {
			error_line(err, 1);
			ring_buffer__free(rb);
			sensor_bpf__destroy(skel);
			return 1;
		}
	}

	struct utsname un;
	uname(&un);
	jb_begin(&ctx.jb, "ready", "bpf");
	jb_uint(&ctx.jb, "schema", SENSOR_SCHEMA_VERSION);
	jb_uint(&ctx.jb, "pid", getpid());
	jb_str(&ctx.jb, "arch", un.machine);
	jb_uint(&ctx.jb, "ringbufBytes", ringbuf_kb * 1024);
	jb_bool(&ctx.jb, "aggregation", aggregate);
	jb_uint(&ctx.jb, "aggEntries", agg_entries);
	jb_uint(&ctx.jb, "flushMs", flush_ms);
	jb_uint(&ctx.jb, "statsMs", stats_ms);
	jb_uint(&ctx.jb, "watched", skel->bss->nwatched);
	jb_bool(&ctx.jb, "capabilities", !caps_off);
	if (!caps_off)
		jb_bool(&ctx.jb, "capProbeFilter", skel->rodata->probe_lo[0] != 0);
	if (caps_off)
		jb_str(&ctx.jb, "capabilitiesOff", caps_off);
	jb_line(&ctx.jb, ctx.out);
	fflush(ctx.out);

	int stdin_open = 1, rc = 0;
	__u64 next_flush = monotonic_ns() + flush_ms * 1000000ull, next_stats = monotonic_ns() + stats_ms * 1000000ull;
	while (!stop) {
		__u64 now = monotonic_ns(), next = next_flush < next_stats ? next_flush : next_stats;
		int timeout = next > now ? (int)((next - now) / 1000000ull) + 1 : 0;
		if (timeout > POLL_MAX_MS)
			timeout = POLL_MAX_MS; /* fork/exit records do not wake us (NO_WAKEUP_NOTE in process.bpf.h) */
		struct pollfd pfd[2] = {
			{ .fd = ring_buffer__epoll_fd(rb), .events = POLLIN },
			{ .fd = stdin_open ? 0 : -1, .events = POLLIN },
		};
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
			rc = 3;
			break;
		}
		if (ring_buffer__consume(rb) < 0) {
			rc = 3; /* stdout is gone: nobody to report to */
			break;
		}
		if (pfd[1].revents && read_commands()) {
			stdin_open = 0;
			if (!keep_on_eof)
				break;
		}
		now = monotonic_ns();
		if (now >= next_flush) {
			if (swap_and_drain())
				rc = 3, stop = 1;
			next_flush = now + flush_ms * 1000000ull;
		}
		if (now >= next_stats) {
			if (stats_line())
				rc = 3, stop = 1;
			next_stats = now + stats_ms * 1000000ull;
		}
		if (fflush(ctx.out))
			rc = 3, stop = 1;
	}
	/* Report what is still pending, then the final counts. */
	if (rc != 3) {
		swap_and_drain();
		stats_line();
		fflush(ctx.out);
	}
	ring_buffer__free(rb);
	sensor_bpf__destroy(skel);
	return rc;
}
