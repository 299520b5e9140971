/**
 * The closed vocabularies of the policy language and how spellings are
 * normalised. Compilers see only the canonical form:
 * - actions: `Allow` | `Audit` | `Block` (any case accepted, as KubeArmor's daemon does);
 * - capabilities: lower case without `cap_` (`CAP_NET_RAW`, `net_raw`, `NET_RAW` → `net_raw`);
 * - protocols: lower case (`TCP` → `tcp`);
 * - syscalls: lower-case names from the x86_64 and aarch64 tables.
 */
import type { Action, NetworkProtocol } from "./model.js";

export const ACTIONS: readonly Action[] = ["Allow", "Audit", "Block"];

export function normalizeAction(text: string): Action | undefined {
  return ACTIONS.find((a) => a.toLowerCase() === text.trim().toLowerCase());
}

/** Every Linux capability (include/uapi/linux/capability.h, 0…40), canonical spelling. */
export const CAPABILITIES: readonly string[] = [
  "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
  "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
  "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
  "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
  "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
  "checkpoint_restore",
];

/** `CAP_NET_RAW` / `net_raw` / `Net_Raw` → `net_raw`; undefined when it is no capability. */
export function normalizeCapability(text: string): string | undefined {
  const bare = text.trim().toLowerCase().replace(/^cap_/, "");
  return CAPABILITIES.includes(bare) ? bare : undefined;
}

/** Protocols the model (and so the compiler) represents. */
export const MODEL_PROTOCOLS: readonly NetworkProtocol[] = ["tcp", "udp", "icmp", "icmpv6", "raw", "sctp"];

/**
 * Further values KubeArmor's CRD accepts (socket types and "all"). Palisade
 * parses them but records them as unenforced, so a compiler fails closed.
 */
export const KUBEARMOR_ONLY_PROTOCOLS: readonly string[] = ["all", "stream", "dgram", "rdm", "seqpacket", "dccp", "packet"];

/**
 * Socket address families (address_families(7), include/linux/socket.h),
 * which KubeArmor also accepts as `protocol` (`AF_RDS`, to block a whole
 * family at socket creation). Written in any case; normalised to lower case
 * (`af_rds`), as KubeArmor's own matcher does. Always unenforced in Palisade.
 */
export const ADDRESS_FAMILIES: readonly string[] = [
  "unix", "local", "inet", "ax25", "ipx", "appletalk", "netrom", "bridge", "atmpvc", "x25", "inet6", "rose",
  "decnet", "netbeui", "security", "key", "netlink", "route", "packet", "ash", "econet", "atmsvc", "rds", "sna",
  "irda", "pppox", "wanpipe", "llc", "ib", "mpls", "can", "tipc", "bluetooth", "iucv", "rxrpc", "isdn", "phonet",
  "ieee802154", "caif", "alg", "nfc", "vsock", "kcm", "qipcrtr", "smc", "xdp", "mctp",
].map((f) => `af_${f}`);

export const ALL_PROTOCOLS: readonly string[] = [...MODEL_PROTOCOLS, ...KUBEARMOR_ONLY_PROTOCOLS, ...ADDRESS_FAMILIES];

export function normalizeProtocol(text: string): string | undefined {
  const lower = text.trim().toLowerCase();
  return ALL_PROTOCOLS.includes(lower) ? lower : undefined;
}

export function isAddressFamily(p: string): boolean {
  return ADDRESS_FAMILIES.includes(p);
}

export function isModelProtocol(p: string): p is NetworkProtocol {
  return (MODEL_PROTOCOLS as readonly string[]).includes(p);
}

// x86_64 (arch/x86/entry/syscalls/syscall_64.tbl, common + 64-bit entries).
const X86_64 = `read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction
rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64 readv writev access pipe select sched_yield mremap msync
mincore madvise shmget shmat shmctl dup dup2 pause nanosleep getitimer alarm setitimer getpid sendfile socket
connect accept sendto recvfrom sendmsg recvmsg shutdown bind listen getsockname getpeername socketpair
setsockopt getsockopt clone fork vfork execve exit wait4 kill uname semget semop semctl shmdt msgget msgsnd
msgrcv msgctl fcntl flock fsync fdatasync truncate ftruncate getdents getcwd chdir fchdir rename mkdir rmdir
creat link unlink symlink readlink chmod fchmod chown fchown lchown umask gettimeofday getrlimit getrusage
sysinfo times ptrace getuid syslog getgid setuid setgid geteuid getegid setpgid getppid getpgrp setsid
setreuid setregid getgroups setgroups setresuid getresuid setresgid getresgid getpgid setfsuid setfsgid getsid
capget capset rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend sigaltstack utime mknod uselib
personality ustat statfs fstatfs sysfs getpriority setpriority sched_setparam sched_getparam
sched_setscheduler sched_getscheduler sched_get_priority_max sched_get_priority_min sched_rr_get_interval
mlock munlock mlockall munlockall vhangup modify_ldt pivot_root _sysctl prctl arch_prctl adjtimex setrlimit
chroot sync acct settimeofday mount umount2 swapon swapoff reboot sethostname setdomainname iopl ioperm
create_module init_module delete_module get_kernel_syms query_module quotactl nfsservctl getpmsg putpmsg
afs_syscall tuxcall security gettid readahead setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr
listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr tkill time futex sched_setaffinity
sched_getaffinity set_thread_area io_setup io_destroy io_getevents io_submit io_cancel get_thread_area
lookup_dcookie epoll_create epoll_ctl_old epoll_wait_old remap_file_pages getdents64 set_tid_address
restart_syscall semtimedop fadvise64 timer_create timer_settime timer_gettime timer_getoverrun timer_delete
clock_settime clock_gettime clock_getres clock_nanosleep exit_group epoll_wait epoll_ctl tgkill utimes vserver
mbind set_mempolicy get_mempolicy mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr
kexec_load waitid add_key request_key keyctl ioprio_set ioprio_get inotify_init inotify_add_watch
inotify_rm_watch migrate_pages openat mkdirat mknodat fchownat futimesat newfstatat unlinkat renameat linkat
symlinkat readlinkat fchmodat faccessat pselect6 ppoll unshare set_robust_list get_robust_list splice tee
sync_file_range vmsplice move_pages utimensat epoll_pwait signalfd timerfd_create eventfd fallocate
timerfd_settime timerfd_gettime accept4 signalfd4 eventfd2 epoll_create1 dup3 pipe2 inotify_init1 preadv
pwritev rt_tgsigqueueinfo perf_event_open recvmmsg fanotify_init fanotify_mark prlimit64 name_to_handle_at
open_by_handle_at clock_adjtime syncfs sendmmsg setns getcpu process_vm_readv process_vm_writev kcmp
finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create kexec_file_load bpf execveat
userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free statx
io_pgetevents rseq uretprobe pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree
move_mount fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2
process_madvise epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset landlock_add_rule
landlock_restrict_self memfd_secret process_mrelease futex_waitv set_mempolicy_home_node cachestat fchmodat2
map_shadow_stack futex_wake futex_wait futex_requeue statmount listmount lsm_get_self_attr lsm_set_self_attr
lsm_list_modules mseal setxattrat getxattrat listxattrat removexattrat open_tree_attr`;

/**
 * Syscall names accepted in `syscalls` rules. aarch64 uses the generic table
 * (include/uapi/asm-generic/unistd.h), whose 64-bit names are all in the
 * x86_64 table, so this one set covers both architectures; a compiler must
 * still check a name exists on the target architecture (e.g. `open` does not
 * on aarch64) and fail closed if not.
 */
export const SYSCALLS: ReadonlySet<string> = new Set(X86_64.split(/\s+/).filter((s) => s !== ""));

export const SYSCALL_LIST: readonly string[] = [...SYSCALLS];
