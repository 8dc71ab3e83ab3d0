/* daemon: detach with a readiness pipe, log sinks from [log]. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "lib/conf.h"
#include "lib/daemon.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

/* Fork; the parent exits 0 once the child is ready, 1 if it dies. */
int
daemon_detach(void)
{
	int	p[2];
	char	c = 0;
	pid_t	pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe");
	switch ((pid = fork())) {
	case -1:
		fatal("fork");
	case 0:
		close(p[0]);
		if (setsid() == -1)
			fatal("setsid");
		return (p[1]);
	default:
		close(p[1]);
		while (read(p[0], &c, 1) == -1 && errno == EINTR)
			;
		_exit(c == 'R' ? 0 : 1);
	}
}

/* Tell the waiting parent we are up, and let go of the terminal. */
void
daemon_ready(int fd)
{
	int	null;

	if (fd == -1)
		return;
	if ((null = open("/dev/null", O_RDWR)) != -1) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	if (write(fd, "R", 1) != 1)
		log_warn("readiness pipe");
	close(fd);
}

/* Open the log sinks and set the level from [log]. */
int
daemon_log_setup(const struct conf *conf, const char *ident, int foreground,
    char **cause)
{
	enum log_level	level;

	if (log_level_parse(conf_str(conf, "log:level"), &level) == -1) {
		xasprintf(cause, "log:level: unknown level");
		return (-1);
	}
	if (log_open(ident, foreground, conf_str(conf, "log:file"),
	    conf_bool(conf, "log:syslog"), cause) == -1)
		return (-1);
	log_set_level(level);
	return (0);
}
