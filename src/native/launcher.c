/*
 * palisade-launch: confine this process with Landlock, then exec the workload.
 *
 *   palisade-launch CONFIG -- PROGRAM [ARGS...]
 *   palisade-launch --abi            print the kernel's Landlock ABI (0 = none)
 *   palisade-launch --check CONFIG   validate CONFIG and print it in canonical
 *                                    form (see lc_print); runs nothing
 *
 * It runs inside the workload's container as its entrypoint (bind-mounted
 * read-only at /.palisade/launch, config at /.palisade/launch.conf), after
 * runc has set up namespaces, capabilities and seccomp. It needs no
 * privilege: Landlock and no_new_privs are unprivileged (see PRIVILEGED.md).
 * PROGRAM without a slash is searched in $PATH (execvp); the environment is
 * passed on unchanged.
 *
 * Exit status when it does not exec: 126 for every refusal before exec (bad
 * usage, unreadable or malformed config, kernel ABI below min-abi, a kernel
 * call failing) and for an exec failure other than "not found", which is
 * 127. Each refusal prints one line "palisade-launch: ..." on stderr.
 * Nothing is executed unless the whole ruleset is in force: fail closed.
 *
 * CONFIG FORMAT, version 1 (written by encodeLaunchConfig() in
 * src/native/launchConfig.ts; keep both descriptions identical)
 *
 *   palisade-launch 1                    first line, exactly
 *   min-abi N                            required, once; N in 1-999
 *   handle-fs RIGHT[,RIGHT...]           at most once
 *   handle-net RIGHT[,RIGHT...]          at most once
 *   scope SCOPE[,SCOPE...]               at most once
 *   path RIGHT[,RIGHT...] /ABSOLUTE/PATH any number
 *   port RIGHT PORT                      any number; PORT in 0-65535
 *   log-new-exec                         at most once
 *   # comment                            whole-line comments and blank lines are ignored
 *
 * Tokens are separated by exactly one space; lines end with "\n". A path is
 * the rest of the line after its rights, so it may contain spaces (not a
 * newline). Rights lists are comma-separated, non-empty, without repeats.
 *   fs rights:  execute write_file read_file read_dir remove_dir remove_file
 *               make_char make_dir make_reg make_sock make_fifo make_block
 *               make_sym (ABI 1), refer (ABI 2), truncate (ABI 3),
 *               ioctl_dev (ABI 5)
 *   net rights: bind_tcp connect_tcp (ABI 4)
 *   scopes:     abstract_unix_socket signal (ABI 6)
 *   log-new-exec: LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON (ABI 7), so that
 *               denials after the exec are audited too
 * Every right on a path must be in handle-fs, every port's right in
 * handle-net; at least one of handle-fs, handle-net, scope must be present.
 *
 * Semantics. Handled rights are denied except where a path or port line
 * allows them; a path line allows its rights on that file or directory tree.
 * The launcher refuses to run when the kernel's ABI is below min-abi. A
 * right, scope or flag that needs an ABI above the kernel's (necessarily
 * above min-abi) is dropped with a warning: min-abi is how the config says
 * which rights are mandatory and which are best effort. On a non-directory,
 * a path line's rights are narrowed to the file rights (execute, write_file,
 * read_file, truncate, ioctl_dev). A path that does not exist (ENOENT,
 * ENOTDIR) is skipped with a warning: Landlock is an allow-list, so a
 * missing rule only removes access; any other error opening a path refuses.
 *
 * Example:
 *   palisade-launch 1
 *   min-abi 4
 *   handle-fs execute,read_file,read_dir,write_file
 *   handle-net bind_tcp,connect_tcp
 *   path read_file,read_dir,execute /usr
 *   path read_file,write_file /var/lib/my app
 *   port connect_tcp 443
 *   log-new-exec
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "landlock_abi.h"
#include "launchconf.h"

#define EXIT_REFUSED 126
#define EXIT_NOT_FOUND 127

__attribute__((format(printf, 1, 2), noreturn)) static void refuse(const char *fmt, ...)
{
	va_list ap;
	fputs("palisade-launch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_REFUSED);
}

__attribute__((format(printf, 1, 2))) static void warn(const char *fmt, ...)
{
	va_list ap;
	fputs("palisade-launch: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Drops the rights the kernel does not know, saying which. */
static uint64_t mask_to_abi(const struct pl_right *table, uint64_t want, int abi, int min_abi)
{
	for (const struct pl_right *r = table; r->name; r++)
		if ((want & r->bit) && r->abi > abi)
			warn("kernel Landlock ABI %d cannot restrict %s (needs ABI %d); min-abi %d allows running without it",
			     abi, r->name, r->abi, min_abi);
	return want & pl_known_mask(table, abi);
}

/* Adds one path-beneath rule, skips a missing path, or refuses. */
static void add_path_rule(int ruleset, const char *file, const struct lc_path *p, uint64_t handled_fs)
{
	int fd = open(p->path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			warn("%s:%d: skipping %s: %s (no access granted)", file, p->line, p->path, strerror(errno));
			return;
		}
		refuse("%s:%d: cannot open %s: %s", file, p->line, p->path, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		refuse("%s:%d: cannot stat %s: %s", file, p->line, p->path, strerror(errno));
	uint64_t rights = p->rights & handled_fs;
	if (!S_ISDIR(st.st_mode))
		rights &= PL_FS_FILE_RIGHTS;
	if (rights) {
		struct pl_path_beneath_attr attr = {.allowed_access = rights, .parent_fd = fd};
		if (syscall(__NR_landlock_add_rule, ruleset, PL_RULE_PATH_BENEATH, &attr, 0) < 0)
			refuse("%s:%d: landlock_add_rule(%s): %s", file, p->line, p->path, strerror(errno));
	}
	close(fd);
}

/* Builds the ruleset and restricts this process; refuses on any failure. */
static void confine(const char *file, const struct launch_conf *c, int abi)
{
	struct pl_ruleset_attr attr = {
		.handled_access_fs = mask_to_abi(pl_fs_rights, c->handled_fs, abi, c->min_abi),
		.handled_access_net = mask_to_abi(pl_net_rights, c->handled_net, abi, c->min_abi),
		.scoped = mask_to_abi(pl_scopes, c->scoped, abi, c->min_abi),
	};
	if (!attr.handled_access_fs && !attr.handled_access_net && !attr.scoped)
		refuse("kernel Landlock ABI %d knows none of the rights the config handles; refusing to run unconfined",
		       abi);
	/* The struct is always passed whole: older kernels accept the zeroed tail. */
	int ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0)
		refuse("landlock_create_ruleset: %s", strerror(errno));

	for (size_t i = 0; i < c->npaths; i++)
		add_path_rule(ruleset, file, &c->paths[i], attr.handled_access_fs);
	for (size_t i = 0; i < c->nports; i++) {
		struct pl_net_port_attr port = {.allowed_access = c->ports[i].right, .port = c->ports[i].port};
		if (!(port.allowed_access & attr.handled_access_net))
			continue; /* net rights masked away above (ABI < 4): nothing to allow */
		if (syscall(__NR_landlock_add_rule, ruleset, PL_RULE_NET_PORT, &port, 0) < 0)
			refuse("%s:%d: landlock_add_rule(port %llu): %s", file, c->ports[i].line,
			       (unsigned long long)port.port, strerror(errno));
	}

	unsigned flags = 0;
	if (c->log_new_exec) {
		if (abi >= PL_ABI_LOG_FLAGS)
			flags |= PL_RESTRICT_SELF_LOG_NEW_EXEC_ON;
		else
			warn("kernel Landlock ABI %d cannot audit denials after exec (needs ABI %d); min-abi %d allows running without it",
			     abi, PL_ABI_LOG_FLAGS, c->min_abi);
	}
	/*
	 * no_new_privs is what lets an unprivileged process restrict itself; it
	 * also stops set-uid binaries from regaining privilege. runc usually has
	 * set it already; setting it twice is harmless.
	 */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		refuse("prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
	if (syscall(__NR_landlock_restrict_self, ruleset, flags) < 0)
		refuse("landlock_restrict_self: %s", strerror(errno));
	close(ruleset);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--abi") == 0) {
		printf("%d\n", pl_landlock_abi());
		return 0;
	}
	struct launch_conf conf;
	char err[8192];
	if (argc == 3 && strcmp(argv[1], "--check") == 0) {
		if (lc_load(argv[2], &conf, err, sizeof(err)) < 0)
			refuse("%s", err);
		lc_print(stdout, &conf);
		lc_free(&conf);
		return fflush(stdout) == 0 ? 0 : EXIT_REFUSED;
	}
	if (argc < 4 || strcmp(argv[2], "--") != 0)
		refuse("usage: palisade-launch CONFIG -- PROGRAM [ARGS...] | --abi | --check CONFIG");

	const char *file = argv[1];
	if (lc_load(file, &conf, err, sizeof(err)) < 0)
		refuse("%s", err);

	int abi = pl_landlock_abi();
	if (abi == 0)
		refuse("Landlock is not available on this kernel (not built in, or disabled at boot); refusing to run %s",
		       argv[3]);
	if (abi < conf.min_abi)
		refuse("kernel Landlock ABI is %d, below the config's min-abi %d; refusing to run %s", abi, conf.min_abi,
		       argv[3]);

	confine(file, &conf, abi);
	lc_free(&conf);

	/*
	 * From here on the process is confined. The launcher is static, so the
	 * exec needs only `execute` on PROGRAM (and, for a dynamic PROGRAM, its
	 * loader and libraries, which the config must allow).
	 */
	execvp(argv[3], argv + 3);
	int e = errno;
	fprintf(stderr, "palisade-launch: cannot execute %s: %s\n", argv[3], strerror(e));
	return e == ENOENT ? EXIT_NOT_FOUND : EXIT_REFUSED;
}
