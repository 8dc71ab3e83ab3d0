/*
 * replay: run a fuzz target's LLVMFuzzerTestOneInput over files, without
 * libFuzzer, so the normal build (and its sanitizer build) replays every
 * seed and every regression input.  Arguments are files or directories
 * (their regular files, in name order, one level).  Prints "replayed N"
 * and exits 0; a crash in the target is the failure.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t/fuzz/fuzz.h"

#define REPLAY_MAX	(1024 * 1024)	/* larger inputs are refused */

static int	replay_file(const char *);
static int	replay_dir(const char *);
static int	replay_cmp(const void *, const void *);

static int	replayed;

/* Feed one file to the target; 0, or -1 when it cannot be read. */
static int
replay_file(const char *path)
{
	FILE	*f;
	uint8_t	*buf;
	size_t	 n;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return (-1);
	}
	if ((buf = malloc(REPLAY_MAX + 1)) == NULL)
		abort();
	n = fread(buf, 1, REPLAY_MAX + 1, f);
	fclose(f);
	if (n > REPLAY_MAX) {
		fprintf(stderr, "replay: %s: larger than %d bytes\n", path,
		    REPLAY_MAX);
		free(buf);
		return (-1);
	}
	/* A copy of exactly n bytes, so overreads are caught. */
	buf = realloc(buf, n == 0 ? 1 : n);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	replayed++;
	return (0);
}

/* Order directory entries by name. */
static int
replay_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Every regular file in dir; a missing directory is empty. */
static int
replay_dir(const char *dir)
{
	struct dirent	 *de;
	struct stat	  st;
	DIR		 *d;
	char		**names = NULL, path[4096];
	size_t		  n = 0, i;
	int		  rc = 0;

	if ((d = opendir(dir)) == NULL)
		return (errno == ENOENT ? 0 : -1);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((names = realloc(names, (n + 1) * sizeof *names)) == NULL ||
		    (names[n] = strdup(de->d_name)) == NULL)
			abort();
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, replay_cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    replay_file(path) == -1)
			rc = -1;
		free(names[i]);
	}
	free(names);
	return (rc);
}

int
main(int argc, char **argv)
{
	struct stat	st;
	int		i, rc = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i]) == -1)
				rc = 1;
		} else if (replay_file(argv[i]) == -1)
			rc = 1;
	}
	printf("replayed %d\n", replayed);
	return (rc);
}
