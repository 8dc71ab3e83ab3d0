/* fuzz-util: the temporary directory shared by file-reading targets. */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t/fuzz/fuzz.h"

static char	fuzz_dir[64];

/* Remove path and, for a directory, everything below it. */
static void
fuzz_rm(const char *path)
{
	char		 sub[1024];
	struct dirent	*de;
	DIR		*d;

	if (unlink(path) == 0 || (d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
		fuzz_rm(sub);
	}
	closedir(d);
	rmdir(path);
}

/* At exit: remove the directory and what the targets left in it. */
static void
fuzz_cleanup(void)
{
	if (fuzz_dir[0] != '\0')
		fuzz_rm(fuzz_dir);
}

/* The directory, made on first use. */
const char *
fuzz_tmpdir(void)
{
	const char	*t;

	if (fuzz_dir[0] != '\0')
		return (fuzz_dir);
	if ((t = getenv("TMPDIR")) == NULL || strlen(t) > 32)
		t = "/tmp";
	snprintf(fuzz_dir, sizeof fuzz_dir, "%s/iaxfuzz.XXXXXX", t);
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	atexit(fuzz_cleanup);
	return (fuzz_dir);
}

/* A file name in the directory; caller frees. */
char *
fuzz_path(const char *name)
{
	char	*p;
	size_t	 n;

	n = strlen(fuzz_tmpdir()) + strlen(name) + 2;
	if ((p = malloc(n)) == NULL)
		abort();
	snprintf(p, n, "%s/%s", fuzz_dir, name);
	return (p);
}

/* Write the whole buffer, truncating what was there. */
void
fuzz_write(const char *path, const void *data, size_t len, int mode)
{
	const char	*p = data;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    mode)) == -1 || fchmod(fd, mode) == -1) {
		perror(path);
		abort();
	}
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			perror(path);
			abort();
		}
		p += n;
		len -= n;
	}
	close(fd);
}
