/*
 * palisade-probe: measures what this kernel offers for enforcement by trying
 * it, and prints one JSON object on stdout (schema: docs/probe.md). A
 * feature counts as present only when the syscall or load succeeded; each
 * failure is reported with its errno name. Exit status 0 whenever the JSON
 * was written, whatever it says.
 *
 * Anything that changes process state (unshare, seccomp filters) happens in
 * a forked child that exits at once, so the probe itself stays unconfined and
 * nothing outlives it. Privileged operations are the closed list in
 * PRIVILEGED.md; as non-root they fail (EPERM) and are reported as such.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "landlock_abi.h"
#include "probe.h"

/*
 * Runs fn in a forked child and returns 0 when it succeeded, else the errno
 * it failed with (the child's exit status carries it; errnos are < 256).
 */
static int in_child(int (*fn)(long), long arg)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(fn(arg) == 0 ? 0 : (errno & 0xff ? errno & 0xff : 255));
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return errno;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return EINTR; /* killed by a signal: report as not working */
}

static void probe_landlock(void)
{
	j_open("landlock");
	long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, PL_CREATE_RULESET_VERSION);
	int err = abi < 0 ? errno : 0;
	j_int("abi", abi < 0 ? 0 : abi);
	j_errno_fields(err); /* ENOSYS: not built in; EOPNOTSUPP: disabled at boot */
	if (abi >= 0) {
		long errata = syscall(__NR_landlock_create_ruleset, NULL, 0, PL_CREATE_RULESET_ERRATA);
		if (errata >= 0)
			j_int("errata", errata);
	}
	j_close();
}

/* seccomp(2) through syscall(): glibc 2.36 has no wrapper. */
static long sys_seccomp(unsigned op, unsigned flags, void *args)
{
	return syscall(__NR_seccomp, op, flags, args);
}

static int install_allow_filter(long flags)
{
	/* Notify on getppid (never called by the child), allow everything else. */
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, flags ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(insns) / sizeof(insns[0]), .filter = insns};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	/* With NEW_LISTENER the kernel returns the notification fd: proof enough. */
	return sys_seccomp(SECCOMP_SET_MODE_FILTER, (unsigned)flags, &prog) < 0 ? -1 : 0;
}

static void probe_seccomp(void)
{
	static const struct {
		const char *name;
		unsigned action;
	} actions[] = {
		{"kill_process", SECCOMP_RET_KILL_PROCESS}, {"kill_thread", SECCOMP_RET_KILL_THREAD},
		{"trap", SECCOMP_RET_TRAP},                 {"errno", SECCOMP_RET_ERRNO},
		{"user_notif", SECCOMP_RET_USER_NOTIF},     {"trace", SECCOMP_RET_TRACE},
		{"log", SECCOMP_RET_LOG},                   {"allow", SECCOMP_RET_ALLOW},
	};
	j_open("seccomp");
	/* 0: not confined; 2: this probe already runs under a filter; -1: no CONFIG_SECCOMP. */
	j_int("mode", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	j_open("actions");
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		unsigned a = actions[i].action;
		j_bool(actions[i].name, sys_seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &a) == 0);
	}
	j_close();
	j_open("filter");
	j_errno_fields(in_child(install_allow_filter, 0));
	j_close();
	j_open("notifSizes");
	struct seccomp_notif_sizes sizes;
	int err = sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0 ? errno : 0;
	j_errno_fields(err);
	if (!err) {
		j_int("notif", sizes.seccomp_notif);
		j_int("resp", sizes.seccomp_notif_resp);
		j_int("data", sizes.seccomp_data);
	}
	j_close();
	j_open("userNotification");
	j_errno_fields(in_child(install_allow_filter, SECCOMP_FILTER_FLAG_NEW_LISTENER));
	j_close();
	j_close();
}

static int try_unshare(long flags)
{
	return unshare((int)flags);
}

/* Unprivileged users may create other namespaces inside a new user namespace. */
static int try_unshare_in_userns(long flags)
{
	return unshare(CLONE_NEWUSER | (int)flags);
}

static void probe_namespaces(void)
{
	static const struct {
		const char *name;
		int flag;
	} kinds[] = {
		{"mnt", CLONE_NEWNS},   {"pid", CLONE_NEWPID},       {"net", CLONE_NEWNET},   {"ipc", CLONE_NEWIPC},
		{"uts", CLONE_NEWUTS},  {"user", CLONE_NEWUSER},     {"cgroup", CLONE_NEWCGROUP},
		{"time", CLONE_NEWTIME},
	};
	j_open("namespaces");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		j_open(kinds[i].name);
		int err = in_child(try_unshare, kinds[i].flag);
		j_errno_fields(err);
		if (err == EPERM && kinds[i].flag != CLONE_NEWUSER)
			j_bool("viaUserns", in_child(try_unshare_in_userns, kinds[i].flag) == 0);
		j_close();
	}
	j_close();
}

static void probe_fanotify(void)
{
	/* A permission-class group with no marks: it can never see an event. */
	int fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY);
	j_open("fanotify");
	j_errno_fields(fd < 0 ? errno : 0);
	j_close();
	if (fd >= 0)
		close(fd);
}

#define LSM_FILE "/sys/kernel/security/lsm"

/* Reads the LSM list (one short line) from `path` into buf; 0 or an errno. */
static int read_lsm(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	ssize_t n = read(fd, buf, len - 1);
	int err = n < 0 ? errno : 0;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int lsm_pipe[2];

/*
 * In a forked child: a private mount namespace, securityfs mounted read-only
 * on its usual place there, the list written to the pipe. The host's mounts
 * never change, and the namespace dies with the child.
 */
static int read_lsm_privately(long unused)
{
	(void)unused;
	char buf[512];
	close(lsm_pipe[0]);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("securityfs", "/sys/kernel/security", "securityfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		return -1;
	int err = read_lsm(LSM_FILE, buf, sizeof(buf));
	if (err) {
		errno = err;
		return -1;
	}
	return write(lsm_pipe[1], buf, strlen(buf)) < 0 ? -1 : 0;
}

static void probe_lsm(void)
{
	char buf[512];
	j_open("lsm");
	int err = read_lsm(LSM_FILE, buf, sizeof(buf));
	if (err == 0) {
		j_str("source", "securityfs");
	} else if (err == ENOENT) {
		/* securityfs not mounted here: mount it where only a child can see it. */
		if (pipe2(lsm_pipe, O_CLOEXEC) < 0) {
			err = errno;
		} else {
			err = in_child(read_lsm_privately, 0);
			close(lsm_pipe[1]);
			ssize_t n = err ? 0 : read(lsm_pipe[0], buf, sizeof(buf) - 1);
			if (!err && n < 0)
				err = errno;
			buf[n > 0 ? n : 0] = '\0';
			close(lsm_pipe[0]);
		}
		j_str("source", "securityfs mounted in a private mount namespace");
	}
	j_errno_fields(err);
	if (!err)
		j_str("list", buf);
	j_close();
}

int main(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		fputs("usage: palisade-probe   (prints JSON; see docs/probe.md)\n", stderr);
		return 2;
	}
	j_open(NULL);
	j_int("version", 1);
	j_int("uid", getuid());
	j_int("euid", geteuid());
	probe_landlock();
	probe_seccomp();
	probe_namespaces();
	probe_fanotify();
	probe_lsm();
	probe_bpf();
	j_close();
	putchar('\n');
	return fflush(stdout) == 0 ? 0 : 1;
}
