/*
 * File open/close microbenchmark, run inside the workload under test.
 * Usage: openbench PATH ITERATIONS
 * Prints `open_close_ns_per_op <float>` (wall clock) and
 * `open_close_cpu_ns_per_op <float>` (this thread's CPU time: on a shared
 * machine it leaves out the time the loop sat preempted).
 * Static so it runs in any rootfs; the path is opened read-only, which every
 * policy in the benchmark allows, so we time the allowed path (the common case).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s PATH ITERATIONS\n", argv[0]);
    return 2;
  }
  long n = strtol(argv[2], NULL, 10);
  if (n <= 0) {
    fprintf(stderr, "openbench: ITERATIONS must be a positive integer\n");
    return 2;
  }
  struct timespec a, b, ca, cb;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ca);
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) {
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      perror("openbench: open");
      return 1;
    }
    close(fd);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cb);
  double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
  double cpu = (double)(cb.tv_sec - ca.tv_sec) * 1e9 + (double)(cb.tv_nsec - ca.tv_nsec);
  printf("open_close_ns_per_op %.1f\n", ns / (double)n);
  printf("open_close_cpu_ns_per_op %.1f\n", cpu / (double)n);
  return 0;
}
