/*
 * daemon: detach with a readiness pipe, log sinks from [log], dropping
 * root.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
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

/*
 * The supplementary groups of user plus gid and the user's login group,
 * as getgrouplist(3) finds them in the group database.  Returns the count
 * or -1.  *groups is allocated (caller frees).
 */
static int
daemon_groups(const struct passwd *pw, gid_t gid, gid_t **groups)
{
	int	n = 16, i, have;

	for (;;) {
		*groups = xreallocarray(NULL, n + 1, sizeof **groups);
		have = n;
		if (getgrouplist(pw->pw_name, gid, *groups, &have) != -1)
			break;
		free(*groups);
		if (have <= n || have > NGROUPS_MAX)
			return (-1);
		n = have;
	}
	for (i = 0; i < have && (*groups)[i] != pw->pw_gid; i++)
		;
	if (i == have)
		(*groups)[have++] = pw->pw_gid;
	return (have);
}

/* Switch from root to user (and group); see daemon.h. */
int
daemon_drop_privileges(const char *user, const char *group, int allow_root,
    char **cause)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid, *groups;
	int		 n;

	if (geteuid() != 0)
		return (0);
	if (*user == '\0') {
		if (allow_root)
			return (0);
		xasprintf(cause, "refusing to run as root: set [daemon] user");
		return (-1);
	}
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		xasprintf(cause, "[daemon] user %s: %s", user,
		    errno != 0 ? strerror(errno) : "no such user");
		return (-1);
	}
	if (pw->pw_uid == 0) {
		if (allow_root)
			return (0);
		xasprintf(cause, "refusing to run as root: [daemon] user %s "
		    "has uid 0", user);
		return (-1);
	}
	gid = pw->pw_gid;
	if (*group != '\0') {
		errno = 0;
		if ((gr = getgrnam(group)) == NULL) {
			xasprintf(cause, "[daemon] group %s: %s", group,
			    errno != 0 ? strerror(errno) : "no such group");
			return (-1);
		}
		gid = gr->gr_gid;
	}
	if ((n = daemon_groups(pw, gid, &groups)) == -1) {
		xasprintf(cause, "[daemon] user %s: too many groups", user);
		return (-1);
	}
	if (setgroups(n, groups) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		xasprintf(cause, "cannot become %s: %s", user,
		    strerror(errno));
		free(groups);
		return (-1);
	}
	free(groups);
	/* Going back must be impossible now. */
	if (setresuid(0, 0, 0) != -1 || geteuid() == 0 || getuid() == 0)
		fatalx("privileges were not dropped");
	return (0);
}
