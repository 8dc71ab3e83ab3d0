/*
 * Replay every fuzz seed (t/fuzz/corpus/<target>/) and every regression
 * input (t/fuzz/regress/<target>/) through its target, built with the
 * normal compiler (t/fuzz/replay-<target>): under make check that is
 * ASan and UBSan, so a fixed crash that comes back fails here.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t/lib/tap.h"

static const char *const targets[] = {
	"agi-env", "agi-reply", "dialstr", "admin-line", "conf", "rsakey",
	"keyserver"
};

static int	count_files(const char *);
static int	replay(const char *, int *);

/* Regular-looking entries of dir (no dot files); 0 when it is missing. */
static int
count_files(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return (n);
}

/*
 * Run the replay program of target over its corpus and regression
 * inputs (when there are any); the exit status (a signal as 128 + n), *n the inputs replayed.
 */
static int
replay(const char *target, int *n)
{
	char	 prog[128], corpus[128], regress[128], out[256];
	int	 fds[2], status;
	ssize_t	 len, got = 0;
	pid_t	 pid;

	snprintf(prog, sizeof prog, "t/fuzz/replay-%s", target);
	snprintf(corpus, sizeof corpus, "t/fuzz/corpus/%s", target);
	snprintf(regress, sizeof regress, "t/fuzz/regress/%s", target);
	*n = -1;
	if (pipe(fds) == -1 || (pid = fork()) == -1)
		bail("pipe or fork failed");
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		if (access(regress, F_OK) == 0)
			execl(prog, prog, corpus, regress, (char *)NULL);
		else
			execl(prog, prog, corpus, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (got < (ssize_t)sizeof out - 1 &&
	    (len = read(fds[0], out + got, sizeof out - 1 - got)) > 0)
		got += len;
	out[got] = '\0';
	close(fds[0]);
	if (waitpid(pid, &status, 0) == -1)
		bail("waitpid failed");
	if (strncmp(out, "replayed ", 9) == 0)
		*n = (int)strtol(out + 9, NULL, 10);
	if (WIFSIGNALED(status))
		return (128 + WTERMSIG(status));
	return (WEXITSTATUS(status));
}

int
main(void)
{
	char	dir[128];
	size_t	i;
	int	n, seeds, regress;

	plan_no_plan();
	for (i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		snprintf(dir, sizeof dir, "t/fuzz/corpus/%s", targets[i]);
		seeds = count_files(dir);
		snprintf(dir, sizeof dir, "t/fuzz/regress/%s", targets[i]);
		regress = count_files(dir);
		ok(seeds > 0, "%s: has seeds", targets[i]);
		is_int(replay(targets[i], &n), 0, "%s: replay exits 0",
		    targets[i]);
		is_int(n, seeds + regress, "%s: %d seeds and %d regression "
		    "inputs replayed", targets[i], seeds, regress);
	}
	return (exit_status());
}
