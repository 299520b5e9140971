/*
 * Conformance attack helper, run as a workload's program:
 *   attack OP ARG [OP ARG ...]
 * Each op makes ONE real syscall (the "subject") and prints one line
 *   "OP ARG: OK" or "OP ARG: <ERRNO NAME>"   (e.g. EACCES, EPERM, EROFS)
 * Setup syscalls an op needs around its subject (socket() before bind(), a
 * fork before ptrace) print "OP ARG: SETUP <call> <ERRNO>" when they fail, a
 * result no case ever expects, so a test cannot pass because the helper
 * failed for another reason than the one it checks. Always exits 0; lines
 * are written with write(2) so nothing is lost in a buffer on a kill.
 *
 *   read PATH        open(PATH, O_RDONLY)
 *   write PATH       open(PATH, O_WRONLY|O_CREAT|O_TRUNC)
 *   exec PATH        execve(PATH, {PATH, "noop"}) in a forked child
 *   rawsock -        socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
 *   tcpsock -        socket(AF_INET, SOCK_STREAM, 0)
 *   mount PATH       mount("none", PATH, "tmpfs", 0, "")
 *   ptrace -         ptrace(PTRACE_ATTACH, <a child that pauses>)
 *   init_module -    init_module(<64 zero bytes>, 64, "")
 *   finit_module -   finit_module(<fd of /dev/null>, "", 0)
 *   mknod-chr PATH   mknod(PATH, S_IFCHR|0666, makedev(1, 3))
 *   mknod-fifo PATH  mknod(PATH, S_IFIFO|0600, 0)
 *   bind PORT        bind(<TCP socket>, 0.0.0.0:PORT), then listen; kept open
 *   connect H:PORT   connect(<TCP socket>, H:PORT)
 *   await PATH       stat(PATH), repeated every 10 ms for up to 10 s until it
 *                    exists (the host creates something while we run)
 *   noop -           nothing (the target of exec)
 *
 * Static (gcc -static) so it runs in any rootfs without a loader.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

/* A setup failure: distinct from every errno result (see the file comment). */
#define SETUP_FAILED (-1)
static char setup_what[64];

static int setup_failed(const char *call)
{
	snprintf(setup_what, sizeof(setup_what), "SETUP %s %s", call, strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
	return SETUP_FAILED;
}

/* Returns 0 (OK), an errno, or SETUP_FAILED. */
static int exec_in_child(const char *file)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return setup_failed("pipe2");
	pid_t pid = fork();
	if (pid < 0)
		return setup_failed("fork");
	if (pid == 0) {
		char *argv[] = {(char *)file, "noop", "-", NULL};
		char *envp[] = {NULL};
		execve(file, argv, envp);
		int e = errno;
		if (write(p[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(p[1]);
	int e = 0;
	/* EOF without data: the pipe was closed by a successful exec (CLOEXEC). */
	if (read(p[0], &e, sizeof(e)) != sizeof(e))
		e = 0;
	close(p[0]);
	waitpid(pid, NULL, 0);
	return e;
}

static int do_ptrace(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return setup_failed("fork");
	if (pid == 0) {
		for (;;)
			pause();
	}
	int err = ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0 ? errno : 0;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return err;
}

static int tcp(const char *arg, int do_bind)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const char *colon = strrchr(arg, ':');
	char host[64] = "0.0.0.0";
	if (colon) {
		size_t n = (size_t)(colon - arg);
		if (n >= sizeof(host))
			n = sizeof(host) - 1;
		memcpy(host, arg, n);
		host[n] = 0;
	}
	sa.sin_port = htons((unsigned short)atoi(colon ? colon + 1 : arg));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		errno = EINVAL;
		return setup_failed("inet_pton");
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0)
		return setup_failed("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (do_bind) {
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			int e = errno;
			close(fd);
			return e;
		}
		/* Keep listening (fd left open) so a later "connect" op can reach it. */
		return listen(fd, 8) < 0 ? setup_failed("listen") : 0;
	}
	int err = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? errno : 0;
	close(fd);
	return err;
}

static int attempt(const char *op, const char *arg)
{
	int fd;
	if (strcmp(op, "read") == 0) {
		if ((fd = open(arg, O_RDONLY | O_CLOEXEC)) < 0)
			return errno;
		close(fd);
		return 0;
	}
	if (strcmp(op, "write") == 0) {
		if ((fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
			return errno;
		close(fd);
		return 0;
	}
	if (strcmp(op, "exec") == 0)
		return exec_in_child(arg);
	if (strcmp(op, "rawsock") == 0) {
		if ((fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP)) < 0)
			return errno;
		close(fd);
		return 0;
	}
	if (strcmp(op, "tcpsock") == 0) {
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return errno;
		close(fd);
		return 0;
	}
	if (strcmp(op, "mount") == 0)
		return mount("none", arg, "tmpfs", 0, "") < 0 ? errno : 0;
	if (strcmp(op, "ptrace") == 0)
		return do_ptrace();
	if (strcmp(op, "init_module") == 0) {
		static char image[64];
		return syscall(SYS_init_module, image, sizeof(image), "") < 0 ? errno : 0;
	}
	if (strcmp(op, "finit_module") == 0) {
		if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
			return setup_failed("open(/dev/null)");
		int err = syscall(SYS_finit_module, fd, "", 0) < 0 ? errno : 0;
		close(fd);
		return err;
	}
	if (strcmp(op, "mknod-chr") == 0)
		return mknod(arg, S_IFCHR | 0666, makedev(1, 3)) < 0 ? errno : 0;
	if (strcmp(op, "mknod-fifo") == 0)
		return mknod(arg, S_IFIFO | 0600, 0) < 0 ? errno : 0;
	if (strcmp(op, "bind") == 0 || strcmp(op, "connect") == 0)
		return tcp(arg, op[0] == 'b');
	if (strcmp(op, "await") == 0) {
		struct stat st;
		for (int i = 0; i < 1000; i++) {
			if (stat(arg, &st) == 0)
				return 0;
			usleep(10000);
		}
		return errno;
	}
	if (strcmp(op, "noop") == 0)
		return 0;
	errno = EINVAL;
	return setup_failed("unknown-op");
}

static void say(const char *op, const char *arg, const char *result)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s %s: %s\n", op, arg, result);
	if (n > 0 && write(1, line, (size_t)n) < 0)
		_exit(3);
}

int main(int argc, char **argv)
{
	/* Run as an exec target ("noop -"): exit at once, print nothing. */
	if (argc == 3 && strcmp(argv[1], "noop") == 0)
		return 0;
	if (argc < 3 || argc % 2 == 0) {
		fprintf(stderr, "usage: %s OP ARG [OP ARG ...]\n", argv[0]);
		return 2;
	}
	for (int i = 1; i + 1 < argc; i += 2) {
		int err = attempt(argv[i], argv[i + 1]);
		const char *name = err == SETUP_FAILED ? setup_what : err == 0 ? "OK" : strerrorname_np(err);
		say(argv[i], argv[i + 1], name ? name : "E?");
	}
	return 0;
}
