/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "audit_share.h"

/*
 * Several sensors on one host (an agent and a `palisade run`, parallel
 * tests) share the kernel's one audit switch. Each palisade-auditd that may
 * change it holds a shared flock on USERS_FILE for its life; the kernel
 * drops the lock when the process dies, crashes included, so there is no
 * stale count. Start and exit are serialised by an exclusive flock on
 * LOCK_FILE. The first user (it gets USERS_FILE exclusively) records the
 * setting it found in USERS_FILE as text "enabled=N\n"; the last one to exit
 * (again exclusive) restores that recorded value. So a sensor never turns
 * audit off under another. Without /run/palisade (read-only /run) we fall
 * back to the old, per-process behaviour.
 */
#define SHARE_DIR "/run/palisade"
#define LOCK_FILE SHARE_DIR "/auditd.lock"
#define USERS_FILE SHARE_DIR "/auditd.users"
static int share_lock = -1, share_users = -1;

/* Returns 1 when this process is the first user (and must record `enabled`), 0 if others run, -1 without sharing. */
int audit_share_begin(void)
{
	mkdir(SHARE_DIR, 0755);
	share_lock = open(LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	share_users = open(USERS_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (share_lock < 0 || share_users < 0 || flock(share_lock, LOCK_EX)) {
		if (share_lock >= 0) close(share_lock);
		if (share_users >= 0) close(share_users);
		share_lock = share_users = -1;
		return -1;
	}
	return flock(share_users, LOCK_EX | LOCK_NB) == 0;
}

/* The setting the first user found, or -1 when unknown. */
int audit_share_recorded(void)
{
	char b[32] = { 0 };
	unsigned v;
	if (pread(share_users, b, sizeof(b) - 1, 0) <= 0 || sscanf(b, "enabled=%u", &v) != 1)
		return -1;
	return (int)v;
}

void audit_share_record(unsigned enabled)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "enabled=%u\n", enabled);
	if (ftruncate(share_users, 0) == 0 && pwrite(share_users, b, n, 0) == n)
		fsync(share_users);
}

/* After begin: hold our share (a shared lock) and let the next sensor in. */
void audit_share_joined(void)
{
	flock(share_users, LOCK_SH);
	flock(share_lock, LOCK_UN);
}

/* At exit: 1 when we are the last user (then the caller restores and must call audit_share_end). */
int audit_share_last(void)
{
	flock(share_lock, LOCK_EX);
	return flock(share_users, LOCK_EX | LOCK_NB) == 0;
}

void audit_share_end(void)
{
	close(share_users);
	close(share_lock);
}

