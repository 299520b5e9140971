/**
 * The syscall tables of Palisade's default seccomp profile (docs/seccomp.md
 * explains every group). Starting point: the allow-list container engines
 * ship (moby/containerd default profile), made stricter where a confined
 * edge workload has no business: no ptrace family, no namespace changes, no
 * mount API, no io_uring (its SQEs bypass seccomp: IORING_OP_SOCKET creates
 * sockets without a socket() syscall), no keyrings, no BPF, no perf.
 *
 * Names a kernel/libseccomp does not know on the target architecture are
 * skipped by runc, so 64-bit names that exist only on x86_64 are harmless on
 * aarch64. 32-bit compat names are not listed: the profile admits only the
 * native architecture (see seccompProfile.ts).
 */

/** Allowed with no argument filter. */
export const DEFAULT_ALLOWED: readonly string[] = `
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown clock_adjtime
clock_getres clock_gettime clock_nanosleep close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_pwait epoll_pwait2 epoll_wait eventfd eventfd2 execve execveat
exit exit_group faccessat faccessat2 fadvise64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2
fchown fchownat fcntl fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstatfs fsync
ftruncate futex futex_requeue futex_wait futex_waitv futex_wake futimesat get_mempolicy get_robust_list
getcpu getcwd getdents getdents64 getegid geteuid getgid getgroups getitimer getpeername getpgid getpgrp
getpid getppid getpriority getrandom getresgid getresuid getrlimit getrusage getsid getsockname getsockopt
gettid gettimeofday getuid getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
io_destroy io_getevents io_pgetevents io_setup io_submit ioctl ioprio_get ioprio_set kill
landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lgetxattr link linkat listen
listxattr llistxattr lremovexattr lseek lsetxattr lstat madvise mbind membarrier memfd_create memfd_secret
mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mprotect mq_getsetattr mq_notify mq_open
mq_timedreceive mq_timedsend mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall
munmap name_to_handle_at nanosleep newfstatat open openat openat2 pause pidfd_open pidfd_send_signal pipe
pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll prctl pread64 preadv preadv2 prlimit64 process_mrelease
pselect6 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recvfrom recvmmsg recvmsg
remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction
rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo
sched_get_priority_max sched_get_priority_min sched_getaffinity sched_getattr sched_getparam
sched_getscheduler sched_rr_get_interval sched_setaffinity sched_setattr sched_setparam sched_setscheduler
sched_yield seccomp select semctl semget semop semtimedop sendfile sendmmsg sendmsg sendto set_mempolicy
set_robust_list set_tid_address setfsgid setfsuid setgid setgroups setitimer setpgid setpriority setregid
setresgid setresuid setreuid setrlimit setsid setsockopt setuid setxattr shmat shmctl shmdt shmget shutdown
sigaltstack signalfd signalfd4 socketpair splice stat statfs statx symlink symlinkat sync sync_file_range
syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_settime
timerfd_create timerfd_gettime timerfd_settime times tkill truncate umask uname unlink unlinkat utime
utimensat utimes vfork vmsplice wait4 waitid write writev
arch_prctl modify_ldt
`
  .split(/\s+/)
  .filter(Boolean);

/**
 * Never allowed by the default profile, with the reason shown by `inspect`
 * and docs/seccomp.md. (Everything not in DEFAULT_ALLOWED is refused too;
 * these are the ones worth naming.) A policy cannot add them back.
 */
export const NOTABLE_BLOCKED: Readonly<Record<string, string>> = {
  mount: "mounting would let the workload reshape its filesystem view",
  umount2: "unmounting could uncover masked paths",
  pivot_root: "changing the root filesystem",
  chroot: "changing the root directory",
  open_tree: "new mount API",
  move_mount: "new mount API",
  fsopen: "new mount API",
  fsconfig: "new mount API",
  fsmount: "new mount API",
  fspick: "new mount API",
  mount_setattr: "new mount API",
  ptrace: "tracing another process (reads its memory, bypasses its confinement)",
  process_vm_readv: "reading another process's memory",
  process_vm_writev: "writing another process's memory",
  kcmp: "comparing kernel objects of other processes (ptrace family)",
  pidfd_getfd: "stealing file descriptors from another process",
  process_madvise: "acting on another process's memory",
  kexec_load: "loading a new kernel",
  kexec_file_load: "loading a new kernel",
  init_module: "loading kernel modules",
  finit_module: "loading kernel modules",
  delete_module: "unloading kernel modules",
  bpf: "loading BPF programs and maps",
  perf_event_open: "performance monitoring leaks kernel and other-process information",
  keyctl: "kernel keyrings are not namespaced",
  add_key: "kernel keyrings are not namespaced",
  request_key: "kernel keyrings are not namespaced",
  unshare: "new namespaces would escape the workload's namespace and Landlock assumptions",
  setns: "joining other namespaces",
  swapon: "host swap configuration",
  swapoff: "host swap configuration",
  reboot: "rebooting the host",
  acct: "process accounting to a host file",
  open_by_handle_at: "opens files by handle, bypassing path checks (the 'shocker' escape)",
  userfaultfd: "a common kernel exploitation primitive",
  iopl: "raw I/O port access",
  ioperm: "raw I/O port access",
  io_uring_setup: "io_uring operations bypass seccomp (e.g. IORING_OP_SOCKET)",
  io_uring_enter: "io_uring operations bypass seccomp",
  io_uring_register: "io_uring operations bypass seccomp",
  quotactl: "host quota configuration",
  quotactl_fd: "host quota configuration",
  syslog: "reading the kernel log",
  lookup_dcookie: "kernel profiling interface",
  settimeofday: "setting the host clock",
  clock_settime: "setting the host clock",
  sethostname: "hostname is fixed by the runtime",
  setdomainname: "domain name is fixed by the runtime",
  vhangup: "hangs up the terminal",
  uselib: "obsolete loader interface",
  _sysctl: "obsolete sysctl interface",
  nfsservctl: "removed from Linux",
  create_module: "removed from Linux",
  get_kernel_syms: "removed from Linux",
  query_module: "removed from Linux",
  personality: "only the standard personalities are allowed (argument filter)",
  clone: "allowed only without namespace flags (argument filter)",
  clone3: "answers ENOSYS so that libc falls back to clone, whose flags can be checked",
  socket: "allowed only for the address families and protocols the workload may use (argument filter)",
};

/** Syscalls the x86_64 table has and the generic (aarch64) table does not. */
export const X86_64_ONLY: ReadonlySet<string> = new Set(
  `open stat lstat poll access pipe select dup2 fork vfork getdents rename mkdir rmdir creat link unlink
symlink readlink chmod chown lchown utime utimes futimesat mknod uselib ustat sysfs _sysctl arch_prctl
modify_ldt iopl ioperm time alarm pause epoll_create epoll_wait epoll_ctl_old epoll_wait_old inotify_init
eventfd signalfd getpgrp create_module get_kernel_syms query_module getpmsg putpmsg afs_syscall tuxcall
security vserver set_thread_area get_thread_area map_shadow_stack uretprobe`
    .split(/\s+/)
    .filter(Boolean),
);

/** Linux's clone namespace flags: CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET. */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/** personality(2) values libc and emulators use: PER_LINUX, PER_LINUX32, UNAME26 variants, and the query. */
export const ALLOWED_PERSONALITIES: readonly number[] = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

export const ERRNO = { EPERM: 1, ENOSYS: 38 } as const;
