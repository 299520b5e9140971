/* SPDX-License-Identifier: Apache-2.0 */
/* The kernel's one audit switch, shared by every palisade-auditd on the host (audit_share.c). */
#ifndef PALISADE_AUDIT_SHARE_H
#define PALISADE_AUDIT_SHARE_H

/* 1: first user (record the setting found), 0: others run, -1: no sharing possible. Holds the start lock. */
int audit_share_begin(void);
/* The setting the first user found, or -1. */
int audit_share_recorded(void);
void audit_share_record(unsigned enabled);
/* Hold our share and release the start lock. */
void audit_share_joined(void);
/* At exit (takes the lock): 1 when we are the last user and should restore. */
int audit_share_last(void);
void audit_share_end(void);

#endif
