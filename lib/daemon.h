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

#endif
