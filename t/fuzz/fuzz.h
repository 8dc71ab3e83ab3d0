/*
 * fuzz: what every fuzz target shares.  A target defines
 * LLVMFuzzerTestOneInput; it is linked either with libFuzzer (clang,
 * make fuzz) or with t/fuzz/replay.c (the normal compiler, make test),
 * which feeds it every seed and every regression input.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* An invariant of the code under test: a violation is a crash. */
#define FUZZ_CHECK(c) do {						\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #c);				\
		abort();						\
	}								\
} while (0)

/*
 * A private temporary directory for targets whose API reads files,
 * made once per process and removed at exit.  fuzz_path() names a file
 * in it (caller frees).
 */
const char	*fuzz_tmpdir(void);
char		*fuzz_path(const char *);
/* Replace the file at path with len bytes of data and the given mode. */
void		 fuzz_write(const char *, const void *, size_t, int);

#endif
