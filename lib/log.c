/*
 * log: the operations log and diagnostics, one logfmt line per event.
 */
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xmalloc.h"

static const char *const log_level_names[LOG_L_MAX] = {
	"debug", "info", "warn", "error"
};

static struct {
	enum log_level	  level;
	int		  use_stderr;
	int		  use_syslog;
	int		  fd;		/* log file, -1 when none */
	char		 *path;
	void		(*hook)(enum log_level, const char *, size_t, void *);
	void		 *hook_arg;
} log_state = { LOG_L_INFO, 1, 0, -1, NULL, NULL, NULL };

static void	lf_raw(struct logline *, const char *, size_t);
static void	lf_key(struct logline *, const char *);
static int	log_plain(const char *, size_t);
static void	log_vmsg(enum log_level, int, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));

/* Name of a level, for logs and the console. */
const char *
log_level_name(enum log_level level)
{
	if (level >= LOG_L_MAX)
		return ("unknown");
	return (log_level_names[level]);
}

/* Parse a level name; 0 or -1. */
int
log_level_parse(const char *s, enum log_level *out)
{
	int	i;

	for (i = 0; i < LOG_L_MAX; i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*out = i;
			return (0);
		}
	}
	return (-1);
}

/* Choose the sinks: stderr, a file, syslog. */
int
log_open(const char *ident, int use_stderr, const char *path, int use_syslog,
    char **cause)
{
	int	fd = -1;

	if (path != NULL && *path != '\0') {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd == -1) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			return (-1);
		}
	}
	log_close();
	log_state.fd = fd;
	log_state.path = fd == -1 ? NULL : xstrdup(path);
	log_state.use_stderr = use_stderr;
	log_state.use_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	return (0);
}

/* Reopen the log file (after rotation). */
int
log_reopen(char **cause)
{
	int	fd;

	if (log_state.path == NULL)
		return (0);
	fd = open(log_state.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640);
	if (fd == -1) {
		xasprintf(cause, "%s: %s", log_state.path, strerror(errno));
		return (-1);
	}
	close(log_state.fd);
	log_state.fd = fd;
	return (0);
}

/* Close every sink but stderr. */
void
log_close(void)
{
	if (log_state.fd != -1)
		close(log_state.fd);
	log_state.fd = -1;
	free(log_state.path);
	log_state.path = NULL;
	if (log_state.use_syslog)
		closelog();
	log_state.use_syslog = 0;
}

/* Set the lowest level that is emitted. */
void
log_set_level(enum log_level level)
{
	log_state.level = level;
}

/* The lowest level that is emitted. */
enum log_level
log_get_level(void)
{
	return (log_state.level);
}

/* 1 when an event of this level would be emitted (by a sink or the hook). */
int
log_enabled(enum log_level level)
{
	return (level >= log_state.level || log_state.hook != NULL);
}

/* Install the hook that sees every line. */
void
log_set_hook(void (*hook)(enum log_level, const char *, size_t, void *),
    void *arg)
{
	log_state.hook = hook;
	log_state.hook_arg = arg;
}

/* Append raw bytes, marking the line cut when it is full. */
static void
lf_raw(struct logline *l, const char *s, size_t n)
{
	size_t	room = sizeof l->buf - 5 - l->len;	/* "...\n\0" */

	if (l->cut)
		return;
	if (n > room) {
		n = room;
		l->cut = 1;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	if (l->cut) {
		memcpy(l->buf + l->len, "...", 3);
		l->len += 3;
	}
}

/* Start a line: timestamp, level, event. */
void
lf_begin(struct logline *l, enum log_level level, const char *event)
{
	struct timespec	ts;
	struct tm	tm;
	char		buf[64];
	size_t		n;

	l->level = level;
	l->len = 0;
	l->cut = 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sizeof buf, "ts=%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(buf + n, sizeof buf - n, ".%03ldZ level=",
	    ts.tv_nsec / 1000000);
	lf_raw(l, buf, n);
	lf_raw(l, log_level_name(level), strlen(log_level_name(level)));
	lf_str(l, "event", event);
}

/* Append " key=". */
static void
lf_key(struct logline *l, const char *key)
{
	lf_raw(l, " ", 1);
	lf_raw(l, key, strlen(key));
	lf_raw(l, "=", 1);
}

/* 1 when s can be written without quotes. */
static int
log_plain(const char *s, size_t n)
{
	size_t	i;

	if (n == 0)
		return (0);
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=')
			return (0);
	}
	return (1);
}

/*
 * Escape n bytes of s into dst as a logfmt value: plain tokens as they
 * are, anything else quoted with \" \\ \n \r \t \xNN.  Returns the length
 * written (dst is always terminated; an over-long value is cut).
 */
size_t
log_escape(char *dst, size_t size, const char *s, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 o = 0, i;
	char			 e[5];
	size_t			 el;

	if (size == 0)
		return (0);
	if (log_plain(s, n)) {
		if (n > size - 1)
			n = size - 1;
		memcpy(dst, s, n);
		dst[n] = '\0';
		return (n);
	}
	if (size < 3) {
		dst[0] = '\0';
		return (0);
	}
	dst[o++] = '"';
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];

		el = 0;
		switch (c) {
		case '"':  e[el++] = '\\'; e[el++] = '"'; break;
		case '\\': e[el++] = '\\'; e[el++] = '\\'; break;
		case '\n': e[el++] = '\\'; e[el++] = 'n'; break;
		case '\r': e[el++] = '\\'; e[el++] = 'r'; break;
		case '\t': e[el++] = '\\'; e[el++] = 't'; break;
		default:
			if (c < ' ' || c >= 0x7f) {
				e[el++] = '\\';
				e[el++] = 'x';
				e[el++] = hex[c >> 4];
				e[el++] = hex[c & 0xf];
			} else
				e[el++] = c;
			break;
		}
		if (o + el + 2 > size)		/* room for '"' and NUL */
			break;
		memcpy(dst + o, e, el);
		o += el;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return (o);
}

/* Append key=value with value escaped. */
void
lf_strn(struct logline *l, const char *key, const char *s, size_t n)
{
	char	buf[LOG_LINE_MAX];
	size_t	len;

	if (s == NULL)
		return;
	len = log_escape(buf, sizeof buf, s, n);
	lf_key(l, key);
	lf_raw(l, buf, len);
}

/* Append key=value for a C string (NULL: the field is left out). */
void
lf_str(struct logline *l, const char *key, const char *s)
{
	if (s != NULL)
		lf_strn(l, key, s, strlen(s));
}

/* Append key=<decimal>. */
void
lf_int(struct logline *l, const char *key, long long v)
{
	char	buf[32];
	int	n;

	n = snprintf(buf, sizeof buf, "%lld", v);
	lf_key(l, key);
	lf_raw(l, buf, n);
}

/* Append key=<hex, 12 digits at least> (session ids). */
void
lf_hex(struct logline *l, const char *key, unsigned long long v)
{
	char	buf[32];
	int	n;

	n = snprintf(buf, sizeof buf, "%012llx", v);
	lf_key(l, key);
	lf_raw(l, buf, n);
}

/* Append key=<formatted value>, escaped. */
void
lf_fmt(struct logline *l, const char *key, const char *fmt, ...)
{
	char	buf[LOG_LINE_MAX];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	lf_strn(l, key, buf, n);
}

/* Write the line to every sink and the hook. */
void
lf_emit(struct logline *l)
{
	static const int	prio[LOG_L_MAX] = {
		LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR
	};
	ssize_t			n;
	int			saved = errno;

	if (log_state.hook != NULL)
		log_state.hook(l->level, l->buf, l->len, log_state.hook_arg);
	if (l->level < log_state.level) {
		errno = saved;
		return;
	}
	if (log_state.use_syslog) {
		/* syslog stamps its own time: drop "ts=... " */
		const char *p = memchr(l->buf, ' ', l->len);
		size_t off = p == NULL ? 0 : (size_t)(p + 1 - l->buf);

		syslog(prio[l->level], "%.*s", (int)(l->len - off),
		    l->buf + off);
	}
	l->buf[l->len] = '\n';
	if (log_state.fd != -1)
		n = write(log_state.fd, l->buf, l->len + 1);
	if (log_state.use_stderr)
		n = write(STDERR_FILENO, l->buf, l->len + 1);
	(void)n;
	errno = saved;
}

/* Emit a diagnostic as event=log. */
static void
log_vmsg(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
	struct logline	l;
	char		msg[LOG_LINE_MAX];
	int		saved = errno, n;

	if (!log_enabled(level))
		return;
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof msg)
		n = sizeof msg - 1;
	if (with_errno)
		snprintf(msg + n, sizeof msg - n, ": %s", strerror(saved));
	lf_begin(&l, level, "log");
	lf_str(&l, "msg", msg);
	lf_emit(&l);
	errno = saved;
}

/* Debug diagnostic. */
void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_L_DEBUG, 0, fmt, ap);
	va_end(ap);
}

/* Informational diagnostic. */
void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_L_INFO, 0, fmt, ap);
	va_end(ap);
}

/* Warning without errno. */
void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_L_WARN, 0, fmt, ap);
	va_end(ap);
}

/* Warning with strerror(errno) appended. */
void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_L_WARN, 1, fmt, ap);
	va_end(ap);
}

/* Log an error and exit (startup or a broken invariant only). */
void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_L_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log an error with strerror(errno) and exit. */
void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_L_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}
