/*
 * truncatePath PATH: truncate(2) PATH to 0 bytes without opening it, which
 * is what Landlock's `truncate` right alone decides (an open for writing
 * would also need `write_file`). Prints "truncated" or "refused: ERROR".
 * Exit 0 when truncated, 1 when refused, 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH\n", argv[0]);
		return 2;
	}
	if (truncate(argv[1], 0) == 0) {
		printf("truncated %s\n", argv[1]);
		return 0;
	}
	printf("refused %s: %s\n", argv[1], strerror(errno));
	return 1;
}
