/*
 * daemon: what iaxkeyd and iaxkey-server share to start as daemons:
 * detaching with a readiness pipe, and log sinks from [log].
 */
#ifndef DAEMON_H
#define DAEMON_H

struct conf;

/*
 * Fork into the background.  The parent waits until the child reports
 * ready (exits 0) or dies (exits 1); the child gets its end of the
 * readiness pipe.
 */
int	daemon_detach(void);
/* Report ready on fd (-1: foreground, nothing to do), drop the terminal. */
void	daemon_ready(int);
/*
 * Open the log sinks from [log] file, syslog and level (stderr too when
 * foreground); 0 or -1 with *cause.
 */
int	daemon_log_setup(const struct conf *, const char *, int, char **);
/*
 * Started as root: become user, with group (if not empty) as the primary
 * group and, next to the user's own groups, in the supplementary list.
 * Root without a user, or a user with uid 0, is refused unless the last
 * argument (allow_root) is set.  Not root: nothing changes.  Call before
 * any thread starts.  0 or -1 with *cause.
 */
int	daemon_drop_privileges(const char *, const char *, int, char **);

#endif
