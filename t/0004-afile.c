/*
 * 0004-afile: atomic writes, write-if-changed, bounded reads, removal and
 * the test-only fault hook of lib/afile.c.  Runs from the repository
 * root; works in t/trash.afile.XXXXXX (kept when a test fails).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/afile.h"
#include "lib/xmalloc.h"
#include "t/lib/tap.h"

static char	 trash[] = "t/trash.afile.XXXXXX";

static char	*tpath(const char *);
static int	 temps_left(const char *);
static int	 content_is(const char *, const void *, size_t);
static mode_t	 mode_of(const char *);
static int	 rm_one(const char *, const struct stat *, int, struct FTW *);
static void	 test_write(void);
static void	 test_if_changed(void);
static void	 test_readonly_dir(void);
static void	 test_fault(void);
static void	 test_read(void);
static void	 test_remove(void);
static void	 test_odd_paths(void);

/* Return a new path inside the trash directory (caller frees). */
static char *
tpath(const char *name)
{
	char	*p;

	xasprintf(&p, "%s/%s", trash, name);
	return (p);
}

/* Count the hidden entries (afile temp files) in directory dir. */
static int
temps_left(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			diag("left behind: %s/%s", dir, de->d_name);
			n++;
		}
	}
	closedir(d);
	return (n);
}

/* Return 1 when the file at path holds exactly len bytes of want. */
static int
content_is(const char *path, const void *want, size_t len)
{
	char	*buf, *cause = NULL;
	size_t	 got;
	int	 same;

	if (afile_read(path, 1 << 24, &buf, &got, &cause) != 0) {
		diag("read %s: %s", path, cause ? cause : "absent");
		free(cause);
		return (0);
	}
	same = got == len && memcmp(buf, want, len) == 0;
	free(buf);
	return (same);
}

/* Return the permission bits of path, or 01 when it cannot be stat'ed. */
static mode_t
mode_of(const char *path)
{
	struct stat	st;

	if (lstat(path, &st) == -1)
		return (01);
	return (st.st_mode & 07777);
}

/* nftw callback removing one entry. */
static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) == -1)
		diag("remove %s: %s", path, strerror(errno));
	return (0);
}

/* Create, replace, modes, temp files, inode change. */
static void
test_write(void)
{
	char		*f = tpath("a.conf"), *cause = NULL, *big;
	struct stat	 st1, st2;
	size_t		 i;

	umask(077);
	is_int(afile_write(f, "one\n", 4, 0644, &cause), 0, "create");
	ok1(content_is(f, "one\n", 4));
	is_int(mode_of(f), 0644, "mode 0644 despite umask 077");
	umask(022);
	ok1(stat(f, &st1) == 0);
	is_int(afile_write(f, "second\n", 7, 0600, &cause), 0, "replace");
	ok1(content_is(f, "second\n", 7));
	is_int(mode_of(f), 0600, "mode 0600");
	ok1(stat(f, &st2) == 0);
	ok(st1.st_ino != st2.st_ino, "replaced by rename (new inode)");
	is_int(afile_write(f, "", 0, 0644, &cause), 0, "empty content");
	ok1(content_is(f, "", 0));
	big = xmalloc(1 << 20);
	for (i = 0; i < 1 << 20; i++)
		big[i] = (char)(i * 7 + i / 251);
	is_int(afile_write(f, big, 1 << 20, 0644, &cause), 0, "1 MiB");
	ok1(content_is(f, big, 1 << 20));
	is_int(temps_left(trash), 0, "no temp file left");
	ok1(cause == NULL);
	free(big);
	free(f);
}

/* Unchanged content costs no write; content or mode changes do. */
static void
test_if_changed(void)
{
	char		*f = tpath("b.conf"), *cause = NULL;
	struct stat	 st1, st2;
	int		 changed = -1;

	is_int(afile_write_if_changed(f, "x=1\n", 4, 0644, &changed, &cause),
	    0, "if_changed on an absent file");
	is_int(changed, 1, "absent: written");
	ok1(content_is(f, "x=1\n", 4));
	ok1(stat(f, &st1) == 0);
	usleep(20000);
	is_int(afile_write_if_changed(f, "x=1\n", 4, 0644, &changed, &cause),
	    0, "same content");
	is_int(changed, 0, "same: not written");
	ok1(stat(f, &st2) == 0);
	ok(st1.st_ino == st2.st_ino, "same inode");
	ok(st1.st_mtim.tv_sec == st2.st_mtim.tv_sec &&
	    st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec, "same mtime");
	is_int(afile_write_if_changed(f, "x=1", 3, 0644, &changed, &cause),
	    0, "prefix of the content");
	is_int(changed, 1, "prefix: written");
	ok1(content_is(f, "x=1", 3));
	is_int(afile_write_if_changed(f, "x=12", 4, 0644, &changed, &cause),
	    0, "longer content");
	is_int(changed, 1, "longer: written");
	is_int(afile_write_if_changed(f, "x=13", 4, 0644, &changed, &cause),
	    0, "same length, other content");
	is_int(changed, 1, "other content: written");
	ok1(content_is(f, "x=13", 4));
	is_int(afile_write_if_changed(f, "x=13", 4, 0600, &changed, &cause),
	    0, "same content, other mode");
	is_int(changed, 1, "other mode: written");
	is_int(mode_of(f), 0600, "mode now 0600");
	is_int(afile_write_if_changed(f, "", 0, 0600, &changed, &cause), 0,
	    "empty content");
	is_int(changed, 1, "empty: written");
	is_int(afile_write_if_changed(f, "", 0, 0600, &changed, &cause), 0,
	    "empty again");
	is_int(changed, 0, "empty again: not written");
	is_int(temps_left(trash), 0, "no temp file left");
	ok1(cause == NULL);
	free(f);
}

/* A directory we may not write to: the old file stays. */
static void
test_readonly_dir(void)
{
	char	*d = tpath("ro"), *f = tpath("ro/c.conf"), *cause = NULL;

	if (geteuid() == 0) {
		/* The fault hook covers the same ground (test_fault). */
		skip(6, "running as root: permissions are not enforced");
		goto out;
	}
	ok1(mkdir(d, 0755) == 0);
	is_int(afile_write(f, "old\n", 4, 0644, &cause), 0, "write in ro/");
	ok1(chmod(d, 0555) == 0);
	is_int(afile_write(f, "new\n", 4, 0644, &cause), -1,
	    "write in a read-only directory fails");
	ok(cause != NULL && strstr(cause, f) != NULL &&
	    strstr(cause, strerror(EACCES)) != NULL, "cause: %s",
	    cause ? cause : "(null)");
	ok1(content_is(f, "old\n", 4));
	chmod(d, 0755);
out:
	free(cause);
	free(f);
	free(d);
}

/* Injected ENOSPC and EIO leave the previous file byte-identical. */
static void
test_fault(void)
{
	char		*f = tpath("victim.conf"), *g = tpath("other.conf");
	char		*cause = NULL;
	char		 old[3000];
	struct stat	 st1, st2;
	size_t		 i;
	int		 changed = -1;

	for (i = 0; i < sizeof old; i++)
		old[i] = "abcdefghij\n"[i % 11];
	is_int(afile_write(f, old, sizeof old, 0640, &cause), 0,
	    "previous version");
	ok1(stat(f, &st1) == 0);

	setenv("IAXKEYD_FAULT_WRITE", "enospc", 1);
	setenv("IAXKEYD_FAULT_PATH", "victim", 1);
	errno = 0;
	is_int(afile_write(f, "new content\n", 12, 0644, &cause), -1,
	    "injected ENOSPC fails");
	is_int(errno, ENOSPC, "errno ENOSPC");
	ok(cause != NULL && strstr(cause, f) != NULL &&
	    strstr(cause, strerror(ENOSPC)) != NULL, "cause: %s",
	    cause ? cause : "(null)");
	free(cause);
	cause = NULL;
	ok(content_is(f, old, sizeof old), "previous file byte-identical");
	ok1(stat(f, &st2) == 0);
	ok(st1.st_ino == st2.st_ino && mode_of(f) == 0640,
	    "same inode, same mode");
	is_int(temps_left(trash), 0, "no temp file left after ENOSPC");
	is_int(afile_write_if_changed(f, "y\n", 2, 0644, &changed, &cause),
	    -1, "if_changed fails too");
	is_int(changed, 0, "changed stays 0");
	free(cause);
	cause = NULL;
	is_int(afile_write_if_changed(f, old, sizeof old, 0640, &changed,
	    &cause), 0, "if_changed with nothing to write succeeds");
	is_int(changed, 0, "nothing written");
	is_int(afile_write(g, "fine\n", 5, 0644, &cause), 0,
	    "other paths are not affected");
	ok1(content_is(g, "fine\n", 5));

	setenv("IAXKEYD_FAULT_WRITE", "eio", 1);
	unsetenv("IAXKEYD_FAULT_PATH");
	is_int(afile_write(g, "x", 1, 0644, &cause), -1,
	    "injected EIO, no path filter");
	ok(cause != NULL && strstr(cause, strerror(EIO)) != NULL, "cause: %s",
	    cause ? cause : "(null)");
	free(cause);
	cause = NULL;
	ok1(content_is(g, "fine\n", 5));
	is_int(afile_write(g, "", 0, 0644, &cause), -1,
	    "injected EIO with empty content");
	free(cause);
	cause = NULL;
	is_int(temps_left(trash), 0, "no temp file left after EIO");

	setenv("IAXKEYD_FAULT_WRITE", "bogus", 1);
	is_int(afile_write(g, "ok\n", 3, 0644, &cause), 0,
	    "unknown fault value is ignored");
	unsetenv("IAXKEYD_FAULT_WRITE");
	is_int(afile_write(f, "new\n", 4, 0644, &cause), 0,
	    "without the hook the write succeeds");
	ok1(content_is(f, "new\n", 4));
	free(cause);
	free(f);
	free(g);
}

/* Bounded reads, absent files, non-regular files. */
static void
test_read(void)
{
	char	*f = tpath("r.txt"), *e = tpath("empty"), *n = tpath("nope");
	char	*buf = NULL, *cause = NULL;
	size_t	 len = 99;

	is_int(afile_write(f, "ab\0cd", 5, 0644, &cause), 0, "setup");
	is_int(afile_write(e, "", 0, 0644, &cause), 0, "setup empty");
	is_int(afile_read(f, 100, &buf, &len, &cause), 0, "read");
	is_mem(buf, len, "ab\0cd", 5, "content with a NUL byte");
	ok(buf != NULL && buf[5] == '\0', "NUL-terminated");
	free(buf);
	is_int(afile_read(f, 5, &buf, &len, &cause), 0, "max == size");
	is_int(len, 5, "length");
	free(buf);
	is_int(afile_read(f, 4, &buf, &len, &cause), -1, "max == size - 1");
	ok(cause != NULL && strstr(cause, "too large") != NULL &&
	    strstr(cause, f) != NULL, "cause: %s", cause ? cause : "(null)");
	ok(buf == NULL && len == 0, "nothing returned");
	free(cause);
	cause = NULL;
	is_int(afile_read(e, 0, &buf, &len, &cause), 0, "empty file, max 0");
	ok(buf != NULL && len == 0 && buf[0] == '\0', "empty string");
	free(buf);
	is_int(afile_read(f, 0, &buf, &len, &cause), -1, "max 0, 5 bytes");
	free(cause);
	cause = NULL;
	errno = 0;
	is_int(afile_read(n, 100, &buf, &len, &cause), 1, "absent: 1");
	is_int(errno, ENOENT, "absent: errno ENOENT");
	ok(buf == NULL && len == 0 && cause == NULL, "absent: no buffer, "
	    "no cause");
	is_int(afile_read(trash, 100, &buf, &len, &cause), -1, "directory");
	ok(cause != NULL && strstr(cause, "not a regular file") != NULL,
	    "cause: %s", cause ? cause : "(null)");
	free(cause);
	cause = NULL;
	/* /proc files report size 0: the buffer must grow as it reads. */
	is_int(afile_read("/proc/self/smaps", 1 << 24, &buf, &len, &cause), 0,
	    "file whose size stat does not know");
	ok(buf != NULL && len > 8192 && strlen(buf) == len, "read %zu bytes",
	    len);
	free(buf);
	is_int(afile_read("/proc/self/smaps", 10000, &buf, &len, &cause), -1,
	    "... capped");
	free(cause);
	free(f);
	free(e);
	free(n);
}

/* Removal: present, absent, a directory. */
static void
test_remove(void)
{
	char	*f = tpath("gone"), *d = tpath("subdir"), *m = tpath("no/x");
	char	*cause = NULL;

	is_int(afile_write(f, "z", 1, 0644, &cause), 0, "setup");
	is_int(afile_remove(f, &cause), 0, "remove");
	ok(access(f, F_OK) == -1 && errno == ENOENT, "removed");
	is_int(afile_remove(f, &cause), 0, "remove an absent file");
	is_int(afile_remove(m, &cause), 0, "remove in an absent directory");
	ok1(mkdir(d, 0755) == 0);
	is_int(afile_remove(d, &cause), -1, "remove a directory fails");
	ok(cause != NULL && strstr(cause, d) != NULL, "cause: %s",
	    cause ? cause : "(null)");
	free(cause);
	free(f);
	free(d);
	free(m);
}

/* Missing directories, trailing slashes, relative names, symlinks. */
static void
test_odd_paths(void)
{
	char	*m = tpath("missing/f"), *s = tpath("dir/"), *cause = NULL;
	char	*t = tpath("target"), *l = tpath("link");
	int	 here;

	is_int(afile_write(m, "x", 1, 0644, &cause), -1,
	    "write into a missing directory");
	ok(cause != NULL && strstr(cause, m) != NULL, "cause: %s",
	    cause ? cause : "(null)");
	free(cause);
	cause = NULL;
	is_int(afile_write(s, "x", 1, 0644, &cause), -1, "trailing slash");
	free(cause);
	cause = NULL;
	is_int(afile_write("", "x", 1, 0644, &cause), -1, "empty path");
	free(cause);
	cause = NULL;

	here = open(".", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
	ok1(here != -1 && chdir(trash) == 0);
	is_int(afile_write("plain", "p\n", 2, 0644, &cause), 0,
	    "relative name without a slash");
	ok1(content_is("plain", "p\n", 2));
	ok1(here != -1 && fchdir(here) == 0);
	close(here);

	is_int(afile_write(t, "target\n", 7, 0644, &cause), 0, "setup");
	ok1(symlink("target", l) == 0);
	is_int(afile_write(l, "link\n", 5, 0644, &cause), 0,
	    "write over a symlink");
	ok1(content_is(t, "target\n", 7));
	ok1(content_is(l, "link\n", 5));
	ok(mode_of(l) == 0644, "the link was replaced by a regular file");
	is_int(temps_left(trash), 0, "no temp file left");
	free(cause);
	free(m);
	free(s);
	free(t);
	free(l);
}

int
main(void)
{
	plan_no_plan();
	if (mkdtemp(trash) == NULL)
		bail("mkdtemp %s: %s", trash, strerror(errno));
	test_write();
	test_if_changed();
	test_readonly_dir();
	test_fault();
	test_read();
	test_remove();
	test_odd_paths();
	if (exit_status() == 0)
		nftw(trash, rm_one, 16, FTW_DEPTH|FTW_PHYS);
	else
		diag("kept %s", trash);
	return (exit_status());
}
