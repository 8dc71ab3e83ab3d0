/*
 * log: the operations log and diagnostics, one logfmt line per event.
 *
 *   ts=2026-11-26T15:51:18.123Z level=info event=session_end sess=2a ...
 *
 * Fields keep the order in which they are added.  Values that are not
 * plain tokens are quoted, and bytes outside printable ASCII, '"' and
 * '\' are escaped (\n, \t, \xNN), so one event is always one line and a
 * hostile value cannot forge fields.  Diagnostics (log_warn and friends)
 * are events too: event=log msg="...".
 *
 * Sinks: stderr (foreground), a file (reopened by log_reopen), syslog.
 * A hook receives every emitted line (the console's watch).
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_L_DEBUG, LOG_L_INFO, LOG_L_WARN, LOG_L_ERROR, LOG_L_MAX };

#define LOG_LINE_MAX	4096		/* longer lines are cut with "..." */

struct logline {
	enum log_level	level;
	size_t		len;
	int		cut;
	char		buf[LOG_LINE_MAX];
};

const char	*log_level_name(enum log_level);
int		 log_level_parse(const char *, enum log_level *);

/*
 * Sinks.  log_open: stderr when foreground; file may be NULL or "";
 * syslog when use_syslog.  Returns 0, or -1 with *cause.
 */
int		 log_open(const char *, int, const char *, int, char **);
int		 log_reopen(char **);
void		 log_close(void);
void		 log_set_level(enum log_level);
enum log_level	 log_get_level(void);
int		 log_enabled(enum log_level);
/* Hook for every emitted line (without '\n'); NULL to remove. */
void		 log_set_hook(void (*)(enum log_level, const char *, size_t,
		    void *), void *);

/* Build an event line: begin, add fields, emit. */
void		 lf_begin(struct logline *, enum log_level, const char *);
void		 lf_str(struct logline *, const char *, const char *);
void		 lf_strn(struct logline *, const char *, const char *, size_t);
void		 lf_int(struct logline *, const char *, long long);
void		 lf_hex(struct logline *, const char *, unsigned long long);
void		 lf_fmt(struct logline *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
void		 lf_emit(struct logline *);

/* Escape value into dst (size > 0) as lf_str would; returns length. */
size_t		 log_escape(char *, size_t, const char *, size_t);

/* Diagnostics. */
void		 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void		 fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
