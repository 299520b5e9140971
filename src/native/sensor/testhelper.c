/* SPDX-License-Identifier: Apache-2.0 */
/*
 * palisade-sensor-testhelper: a scripted workload for the sensor's tests.
 * Statically linked so it opens no shared libraries: the only file and
 * network events it causes are the ones its steps ask for, which lets tests
 * count events exactly.
 *
 *   palisade-sensor-testhelper STEP... [-- PROG ARG...]
 *
 * Steps run in order; each prints one JSON line with its result:
 *   cgroup=DIR          move this process into cgroup DIR (write cgroup.procs)
 *   uid=N               drop to uid/gid N (no supplementary groups)
 *   open=PATH           open(O_RDONLY) and close
 *   repeat=PATH,N       open the same path N times
 *   flood=PREFIX,N      open PREFIX0 .. PREFIX(N-1): N distinct events
 *   bursts=PREFIX,N,C,MS  the same N opens in bursts of C, MS ms apart (one short
 *                       argv for a paced flood: every record's Source is the command line)
 *   connect=IP,PORT     TCP connect (IPv4 or IPv6 literal)
 *   accept=PORT,N       listen on 127.0.0.1:PORT, accept N connections, closing each
 *   landlock-fs[=P1,P2] Landlock: deny reading, writing and executing files
 *                       except beneath P1, P2... (read+execute)
 *   landlock-net        Landlock: deny every TCP connect and bind
 *   landlock-log-exec   make the next landlock-* log denials after exec too
 *                       (LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON, ABI >= 7)
 *   chown=PATH,UID      chown(PATH, UID, -1): needs CAP_CHOWN unless UID is ours
 *   rawsock             socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) and close: needs CAP_NET_RAW
 *   capdrop=N           drop capability N from the effective and permitted sets
 *   cpu=N               run on CPU N only (sched_setaffinity)
 *   wait                read one line from stdin (a test acts between two steps)
 *   sleep=MS
 *   raise=SIG           send this process signal SIG
 *   forkeach=N          the remaining steps run in N children, forked one after
 *                       another (each waits for the one before); prints
 *                       {"step":"child","arg":"PID","result":STATUS} per child
 *   -- PROG ARG...      execv PROG (same pid)
 * The first line is {"step":"start","pid":N}. Exit status 0, or 2 when a step
 * could not be set up (the result line says why).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

/* Debian 12's uapi headers predate Landlock's network and logging parts:
 * these are the kernel's stable uapi values. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};
struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_RESTRICT_SELF_LOG_NEW_EXEC_ON (1U << 1)
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

static unsigned restrict_flags;

static void result(const char *step, const char *arg, long r)
{
	printf("{\"step\":\"%s\",\"arg\":\"%s\",\"result\":%ld}\n", step, arg, r);
	fflush(stdout);
}

static long open_once(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	close(fd);
	return fd;
}

/* "A,B" → A and the number B. */
static const char *split_n(char *arg, long *n)
{
	char *comma = strrchr(arg, ',');
	if (!comma)
		return NULL;
	*comma = 0;
	*n = atol(comma + 1);
	return arg;
}

static long do_connect(char *arg)
{
	long port;
	const char *ip = split_n(arg, &port);
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int v6 = ip && strchr(ip, ':');
	if (!ip || (v6 ? inet_pton(AF_INET6, ip, &in6.sin6_addr) : inet_pton(AF_INET, ip, &in4.sin_addr)) != 1)
		return -EINVAL;
	int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return -errno;
	long r = v6 ? connect(s, (struct sockaddr *)&in6, sizeof(in6)) : connect(s, (struct sockaddr *)&in4, sizeof(in4));
	r = r < 0 ? -errno : 0;
	close(s);
	return r;
}

static long landlock(int net, char *allow)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
	if (abi < 1)
		return -ENOSYS;
	if (net && abi < 4)
		return -EOPNOTSUPP;
	/* Older ABIs reject the struct's later fields unless we pass a shorter size. */
	struct ll_ruleset_attr attr = { 0 };
	size_t size = abi >= 6 ? sizeof(attr) : abi >= 4 ? 16 : 8;
	if (net)
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
	else
		attr.handled_access_fs = LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE;
	int rs = syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (rs < 0)
		return -errno;
	for (char *p = allow ? strtok(allow, ",") : NULL; p; p = strtok(NULL, ",")) {
		struct ll_path_beneath_attr pb = { .allowed_access = LL_FS_EXECUTE | LL_FS_READ_FILE };
		pb.parent_fd = open(p, O_PATH | O_CLOEXEC);
		if (pb.parent_fd < 0 || syscall(SYS_landlock_add_rule, rs, LL_RULE_PATH_BENEATH, &pb, 0))
			return -errno;
		close(pb.parent_fd);
	}
	if (restrict_flags && abi < 7)
		return -EOPNOTSUPP;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_landlock_restrict_self, rs, restrict_flags))
		return -errno;
	close(rs);
	return 0;
}

static long do_accept(int port, long n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	long r = 0;
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16))
		r = -errno;
	for (long i = 0; !r && i < n; i++) {
		int c = accept(fd, NULL, NULL);
		if (c < 0)
			r = -errno;
		else
			close(c);
	}
	close(fd);
	return r;
}

static int run_steps(int argc, char **argv, int from);

/* forkeach=N: run argv[from..] in N children, one after another. */
static int fork_each(long n, int argc, char **argv, int from)
{
	int rc = 0;
	for (long c = 0; c < n; c++) {
		fflush(stdout); /* or the child would print the parent's buffer again */
		pid_t pid = fork();
		if (pid < 0)
			return 2;
		if (pid == 0) {
			int r = run_steps(argc, argv, from);
			fflush(stdout);
			_exit(r);
		}
		int status = 0;
		waitpid(pid, &status, 0);
		char p[16];
		snprintf(p, sizeof(p), "%d", pid);
		result("child", p, status);
		if (status)
			rc = 2;
	}
	return rc;
}

static long do_capdrop(int cap)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];
	if (cap < 0 || cap >= 64 || syscall(SYS_capget, &h, d))
		return cap < 0 || cap >= 64 ? -EINVAL : -errno;
	d[cap / 32].effective &= ~(1u << (cap % 32));
	d[cap / 32].permitted &= ~(1u << (cap % 32));
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

static int step(char *s)
{
	char *arg = strchr(s, '=');
	long n, r = 0;
	if (arg)
		*arg++ = 0;
	const char *a = arg ? arg : "";
	if (!strcmp(s, "cgroup") && arg) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/cgroup.procs", arg);
		int fd = open(path, O_WRONLY);
		r = fd < 0 || write(fd, "0\n", 2) != 2 ? -errno : 0;
		if (fd >= 0)
			close(fd);
		result(s, a, r);
		return r ? 2 : 0;
	}
	if (!strcmp(s, "uid") && arg) {
		gid_t g = atoi(arg);
		r = setgroups(0, NULL) || setgid(g) || setuid(atoi(arg)) ? -errno : 0;
		result(s, a, r);
		return r ? 2 : 0;
	}
	if (!strcmp(s, "open") && arg) {
		result(s, a, open_once(arg));
		return 0;
	}
	if (!strcmp(s, "repeat") && arg && split_n(arg, &n)) {
		for (long i = 0; i < n; i++)
			r = open_once(arg);
		result(s, a, r);
		return 0;
	}
	if (!strcmp(s, "flood") && arg && split_n(arg, &n)) {
		char path[4096];
		for (long i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s%ld", arg, i);
			r = open_once(path);
		}
		result(s, a, r);
		return 0;
	}
	if (!strcmp(s, "bursts") && arg) {
		char prefix[256], path[4096];
		long chunk = 0, ms = 0;
		const char *c1 = strchr(arg, ',');
		if (!c1 || (size_t)(c1 - arg) >= sizeof(prefix) || sscanf(c1 + 1, "%ld,%ld,%ld", &n, &chunk, &ms) != 3 || n < 0 || chunk < 1 || ms < 0) {
			result(s, a, -EINVAL);
			return 2;
		}
		memcpy(prefix, arg, (size_t)(c1 - arg));
		prefix[c1 - arg] = 0;
		for (long i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s%ld_%ld", prefix, i / chunk, i % chunk);
			r = open_once(path);
			if ((i + 1) % chunk == 0 && i + 1 < n && ms > 0) {
				struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
				nanosleep(&ts, NULL);
			}
		}
		result(s, a, r);
		return 0;
	}
	if (!strcmp(s, "connect") && arg) {
		char copy[256];
		snprintf(copy, sizeof(copy), "%s", arg);
		result(s, a, do_connect(copy));
		return 0;
	}
	if (!strcmp(s, "landlock-fs") || !strcmp(s, "landlock-net")) {
		r = landlock(s[9] == 'n', arg);
		result(s, a, r);
		return r ? 2 : 0;
	}
	if (!strcmp(s, "landlock-log-exec")) {
		restrict_flags |= LL_RESTRICT_SELF_LOG_NEW_EXEC_ON;
		return 0;
	}
	if (!strcmp(s, "chown") && arg) {
		char copy[4096];
		snprintf(copy, sizeof(copy), "%s", arg);
		const char *path = split_n(copy, &n);
		r = path && chown(path, n, -1) ? -errno : path ? 0 : -EINVAL;
		result(s, a, r);
		return 0;
	}
	if (!strcmp(s, "rawsock")) {
		int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
		r = fd < 0 ? -errno : 0;
		if (fd >= 0)
			close(fd);
		result(s, a, r);
		return 0;
	}
	if (!strcmp(s, "capdrop") && arg) {
		r = do_capdrop(atoi(arg));
		result(s, a, r);
		return r ? 2 : 0;
	}
	if (!strcmp(s, "cpu") && arg) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(atoi(arg), &set);
		r = sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
		result(s, a, r);
		return r ? 2 : 0;
	}
	if (!strcmp(s, "wait")) {
		char line[64];
		r = fgets(line, sizeof(line), stdin) ? 0 : -EPIPE;
		result(s, a, r);
		return r ? 2 : 0;
	}
	if (!strcmp(s, "accept") && arg && split_n(arg, &n)) {
		result(s, a, do_accept(atoi(arg), n));
		return 0;
	}
	if (!strcmp(s, "raise") && arg) {
		r = raise(atoi(arg)) ? -errno : 0;
		result(s, a, r);
		return r ? 2 : 0;
	}
	if (!strcmp(s, "sleep") && arg) {
		struct timespec ts = { atol(arg) / 1000, (atol(arg) % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		return 0;
	}
	fprintf(stderr, "palisade-sensor-testhelper: unknown step %s\n", s);
	return 2;
}

/* Steps argv[from..] in order: 0, or the first failing step's status. */
static int run_steps(int argc, char **argv, int from)
{
	for (int i = from; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			if (i + 1 >= argc)
				return 2;
			fflush(stdout);
			execv(argv[i + 1], argv + i + 1);
			result("exec", argv[i + 1], -errno);
			return 2;
		}
		if (!strncmp(argv[i], "forkeach=", 9))
			return fork_each(atol(argv[i] + 9), argc, argv, i + 1);
		int r = step(argv[i]);
		if (r)
			return r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	printf("{\"step\":\"start\",\"pid\":%d}\n", getpid());
	fflush(stdout);
	return run_steps(argc, argv, 1);
}
