/*
 * afile: atomic, durable file writes and bounded reads.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/afile.h"
#include "lib/xmalloc.h"

#define AFILE_CHUNK	8192

static int	afile_error(char **, const char *, const char *, int);
static int	afile_split(const char *, char *, size_t, const char **);
static int	afile_fsync_dir(const char *, const char *, char **);
static int	afile_fault(const char *);
static int	afile_write_all(int, const void *, size_t, int);
static int	afile_same(const char *, const void *, size_t, mode_t);

/* Set *cause to "<what> <path>: <strerror>" and errno to err; return -1. */
static int
afile_error(char **cause, const char *what, const char *path, int err)
{
	if (cause != NULL)
		xasprintf(cause, "%s %s: %s", what, path, strerror(err));
	errno = err;
	return (-1);
}

/*
 * Put the directory part of path into dir (size dsz) and point *base at
 * the last component; 0, or an errno value when path has no file name or
 * is too long.
 */
static int
afile_split(const char *path, char *dir, size_t dsz, const char **base)
{
	const char	*slash;
	size_t		 n;

	if (*path == '\0')
		return (ENOENT);
	if ((slash = strrchr(path, '/')) == NULL) {
		*base = path;
		return (strlcpy_(dir, ".", dsz) >= dsz ? ENAMETOOLONG : 0);
	}
	*base = slash + 1;
	if (**base == '\0')
		return (EISDIR);
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= dsz)
		return (ENAMETOOLONG);
	memcpy(dir, path, n);
	dir[n] = '\0';
	return (0);
}

/* Fsync directory dir so that a rename or unlink in it is durable. */
static int
afile_fsync_dir(const char *dir, const char *path, char **cause)
{
	int	fd, saved;

	if ((fd = open(dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC)) == -1)
		return (afile_error(cause, "open directory of", path, errno));
	if (fsync(fd) == -1 && errno != EINVAL) {
		/* EINVAL: the file system cannot sync directories. */
		saved = errno;
		close(fd);
		return (afile_error(cause, "fsync directory of", path, saved));
	}
	close(fd);
	return (0);
}

/* The errno the test-only fault hook injects for path, or 0. */
static int
afile_fault(const char *path)
{
	const char	*what, *sub;
	int		 err;

	if ((what = getenv("IAXKEYD_FAULT_WRITE")) == NULL)
		return (0);
	if (strcmp(what, "enospc") == 0)
		err = ENOSPC;
	else if (strcmp(what, "eio") == 0)
		err = EIO;
	else
		return (0);
	sub = getenv("IAXKEYD_FAULT_PATH");
	if (sub != NULL && *sub != '\0' && strstr(path, sub) == NULL)
		return (0);
	return (err);
}

/*
 * Write all len bytes of buf to fd, retrying on EINTR and short writes;
 * with fault set, stop half way and fail with errno = fault.
 */
static int
afile_write_all(int fd, const void *buf, size_t len, int fault)
{
	const char	*p = buf;
	size_t		 left = fault ? len / 2 : len;
	ssize_t		 n;

	while (left > 0) {
		n = write(fd, p, left);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		left -= (size_t)n;
	}
	if (fault) {
		errno = fault;
		return (-1);
	}
	return (0);
}

/* Replace path atomically with buf; see afile.h. */
int
afile_write(const char *path, const void *buf, size_t len, mode_t mode,
    char **cause)
{
	char		 dir[PATH_MAX], tmp[PATH_MAX];
	const char	*base;
	int		 fd, saved, n;

	if ((saved = afile_split(path, dir, sizeof dir, &base)) != 0)
		return (afile_error(cause, "write", path, saved));
	/* "<dir>/.<base>.XXXXXX", or ".<base>.XXXXXX" for a bare name. */
	n = snprintf(tmp, sizeof tmp, "%.*s.%s.XXXXXX", (int)(base - path),
	    path, base);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return (afile_error(cause, "write", path, ENAMETOOLONG));
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		/* Nothing to unlink. */
		return (afile_error(cause, "create temporary file for", path,
		    errno));
	}
	if (afile_write_all(fd, buf, len, afile_fault(path)) == -1) {
		saved = errno;
		close(fd);
		unlink(tmp);
		return (afile_error(cause, "write", path, saved));
	}
	if (fchmod(fd, mode) == -1 || fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlink(tmp);
		return (afile_error(cause, "sync", path, saved));
	}
	if (close(fd) == -1) {
		saved = errno;
		unlink(tmp);
		return (afile_error(cause, "close", path, saved));
	}
	if (rename(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		return (afile_error(cause, "rename over", path, saved));
	}
	return (afile_fsync_dir(dir, path, cause));
}

/*
 * Return 1 when path is a regular file holding exactly buf with
 * permission bits mode, else 0 (also when it cannot be read).
 */
static int
afile_same(const char *path, const void *buf, size_t len, mode_t mode)
{
	char		 chunk[AFILE_CHUNK];
	const char	*p = buf;
	struct stat	 st;
	size_t		 off = 0, want;
	ssize_t		 n;
	int		 fd, same = 0;

	fd = open(path, O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK);
	if (fd == -1)
		return (0);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 07777) != (mode & 07777) ||
	    (unsigned long long)st.st_size != (unsigned long long)len)
		goto out;
	for (;;) {
		/* Ask for one byte more than expected to see growth. */
		want = len - off < sizeof chunk ? len - off + 1 : sizeof chunk;
		n = read(fd, chunk, want);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (n == 0)
			break;
		if ((size_t)n > len - off ||
		    memcmp(chunk, p + off, (size_t)n) != 0)
			goto out;
		off += (size_t)n;
	}
	same = off == len;
out:
	close(fd);
	return (same);
}

/* Write path only when its content or mode differs; see afile.h. */
int
afile_write_if_changed(const char *path, const void *buf, size_t len,
    mode_t mode, int *changed, char **cause)
{
	*changed = 0;
	if (afile_same(path, buf, len, mode))
		return (0);
	if (afile_write(path, buf, len, mode, cause) == -1)
		return (-1);
	*changed = 1;
	return (0);
}

/* Read a whole regular file from an open descriptor, bounded; see afile.h. */
int
afile_read_fd(int fd, const char *path, size_t max, char **buf, size_t *len,
    char **cause)
{
	struct stat	 st;
	char		*b;
	size_t		 size, off = 0;
	ssize_t		 n;
	int		 saved;

	*buf = NULL;
	*len = 0;
	if (fstat(fd, &st) == -1)
		return (afile_error(cause, "stat", path, errno));
	if (!S_ISREG(st.st_mode)) {
		if (cause != NULL)
			xasprintf(cause, "read %s: not a regular file", path);
		return (-1);
	}
	if (max >= SIZE_MAX - 1) {
		if (cause != NULL)
			xasprintf(cause, "read %s: bad size limit", path);
		return (-1);
	}
	/* Start from the size fstat saw; the file may grow meanwhile. */
	size = st.st_size > 0 && (unsigned long long)st.st_size < max ?
	    (size_t)st.st_size + 2 : (max < AFILE_CHUNK ? max + 2 :
	    AFILE_CHUNK);
	b = xmalloc(size);
	for (;;) {
		if (off == size - 1) {
			size = size > max / 2 ? max + 2 : size * 2;
			b = xrealloc(b, size);
		}
		n = read(fd, b + off, size - 1 - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			free(b);
			return (afile_error(cause, "read", path, saved));
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off > max)
			break;
	}
	if (off > max) {
		free(b);
		if (cause != NULL)
			xasprintf(cause, "read %s: too large (over %zu bytes)",
			    path, max);
		return (-1);
	}
	b[off] = '\0';
	*buf = b;
	*len = off;
	return (0);
}

/* Read a whole regular file, bounded; 1 when absent; see afile.h. */
int
afile_read(const char *path, size_t max, char **buf, size_t *len,
    char **cause)
{
	int	fd, rv, saved;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK);
	if (fd == -1) {
		if (errno == ENOENT)
			return (1);
		return (afile_error(cause, "open", path, errno));
	}
	rv = afile_read_fd(fd, path, max, buf, len, cause);
	saved = errno;
	close(fd);
	errno = saved;
	return (rv);
}

/* Unlink path durably; a missing file is fine; see afile.h. */
int
afile_remove(const char *path, char **cause)
{
	char		 dir[PATH_MAX];
	const char	*base;
	int		 err;

	if ((err = afile_split(path, dir, sizeof dir, &base)) != 0)
		return (afile_error(cause, "remove", path, err));
	if (unlink(path) == -1) {
		if (errno == ENOENT)
			return (0);
		return (afile_error(cause, "remove", path, errno));
	}
	return (afile_fsync_dir(dir, path, cause));
}
