/*
 * afile: atomic, durable file writes (temp file in the same directory,
 * fsync, rename, fsync of the directory) and bounded reads.  This is the
 * only way iaxkeyd writes files: a crash or a full disk leaves the
 * previous version of a file byte-identical.  Every cause argument may
 * be NULL when the caller does not want the message.
 */
#ifndef AFILE_H
#define AFILE_H

#include <sys/types.h>

#include <stddef.h>

/*
 * Replace path with len bytes of buf, mode mode (applied with fchmod, so
 * the umask does not matter).  The data goes to "<dir>/.<base>.XXXXXX"
 * (created O_CLOEXEC, mode 0600 until complete), which is written whole,
 * fsynced, closed and renamed over path; then the directory is fsynced.
 * A symbolic link at path is replaced, not followed.  Returns 0, or -1
 * with *cause ("<what> <path>: <strerror>", caller frees): on every
 * failure before the rename the temp file is unlinked and path is left
 * as it was.  A failure of the final directory fsync is reported although
 * the new content is already in place.
 *
 * Test-only fault hook: when the environment variable IAXKEYD_FAULT_WRITE
 * is "enospc" or "eio", writing the data fails (after half of it has been
 * written) as if write(2) had returned ENOSPC or EIO, for every path when
 * IAXKEYD_FAULT_PATH is unset or empty, else only for paths containing
 * that substring.  Other values are ignored.  The environment is read on
 * every call.  Never set these in production.
 */
int	afile_write(const char *, const void *, size_t, mode_t, char **);

/*
 * Like afile_write, but only when the file's current content differs from
 * buf or its permission bits differ from mode; *changed is set to 1 when
 * the file was written, 0 when it was already identical (then nothing is
 * touched: same inode, same mtime).  The comparison reads at most len + 1
 * bytes; a file that cannot be read is simply rewritten.
 */
int	afile_write_if_changed(const char *, const void *, size_t, mode_t,
	    int *, char **);

/*
 * Read the whole regular file at path, at most max bytes, into a new
 * NUL-terminated buffer *buf (caller frees; the content may itself hold
 * NUL bytes, *len is the real length).  Returns 0; 1 when the file does
 * not exist (ENOENT: *buf = NULL, *len = 0, errno = ENOENT, no *cause);
 * -1 with *cause for any other failure, including "too large" when the
 * file holds more than max bytes and "not a regular file".
 */
int	afile_read(const char *, size_t, char **, size_t *, char **);

/*
 * Same as afile_read on an already open descriptor (not closed here; path
 * is used in messages only).  Returns 0 or -1 with *cause.
 */
int	afile_read_fd(int, const char *, size_t, char **, size_t *, char **);

/*
 * Unlink path and fsync its directory.  A missing file is not an error.
 * Returns 0 or -1 with *cause (caller frees).
 */
int	afile_remove(const char *, char **);

#endif
