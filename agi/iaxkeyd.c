/*
 * iaxkeyd: main.  Options, startup order, signals.
 *
 *   iaxkeyd [-d] [-n] [-f FILE]
 *   iaxkeyd -k [-f FILE]          create the node's key pair
 *
 * Startup: load and validate the configuration, open the logs, (unless
 * -d) detach, bind the listeners and write the pid file, drop root
 * ([daemon] user and group), open the state store, then tell the parent
 * we are ready so that "iaxkeyd && next-step" sees a listening daemon.
 * SIGTERM drains, SIGHUP reloads the configuration, SIGUSR1 reopens the
 * log files.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agi/config.h"
#include "agi/iaxkeyd.h"
#include "lib/afile.h"
#include "lib/daemon.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"

#define IAXKEYD_CONF	"/etc/iaxkeyd/iaxkeyd.conf"

struct iaxkeyd		*ikd;
static struct iaxkeyd	 ikd_store;

static void	usage(void) __attribute__((noreturn));
static void	signal_cb(int, short, void *);

static void	drained(void);
static void	pidfile_write(void);
static int	keygen(void);

/* Milliseconds on the monotonic clock. */
uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Print usage and exit. */
static void
usage(void)
{
	fprintf(stderr, "usage: iaxkeyd [-dn] [-f file]\n"
	    "       iaxkeyd -k [-f file]\n");
	exit(2);
}




/*
 * Load the configuration again; keep the old one when the new one fails.
 * The event is logged before new log settings take effect.  Returns 0, or
 * -1 when the old configuration stays.
 */
int
iaxkeyd_reload_config(void)
{
	struct conf	*conf;
	char		*cause = NULL;
	struct logline	 l;
	int		 relog = 0, users = 0;
	const char	*const users_keys[] = { "inbound:inkeys", "inbound:user",
			    "inbound:template", "inbound:users_file" };
	size_t		 i;

	conf = conf_load(ikd->conf_path, iaxkeyd_conf_spec, &cause);
	if (conf != NULL && (config_check(conf, &cause) == -1 ||
	    server_apply(conf, &cause) == -1 ||
	    reload_apply(conf, &cause) == -1)) {
		conf_free(conf);
		conf = NULL;
	}
	if (conf != NULL) {
		relog = conf_changed(ikd->conf, conf, "log:file") ||
		    conf_changed(ikd->conf, conf, "log:syslog") ||
		    conf_changed(ikd->conf, conf, "log:level");
		for (i = 0; i < sizeof users_keys / sizeof *users_keys; i++)
			users |= conf_changed(ikd->conf, conf, users_keys[i]);
		/* Modules read the configuration when they need it. */
		conf_free(ikd->conf);
		ikd->conf = conf;
		sync_apply();
		rotate_apply();
		console_apply(conf);
		stats_serve(ikd->base, conf);
		if (users)
			users_rerender();
	}
	lf_begin(&l, conf == NULL ? LOG_L_ERROR : LOG_L_INFO, "config_reload");
	lf_str(&l, "file", ikd->conf_path);
	lf_str(&l, "status", conf == NULL ? "error" : "ok");
	lf_str(&l, "reason", cause);
	lf_emit(&l);
	free(cause);
	cause = NULL;
	if (relog && daemon_log_setup(ikd->conf, "iaxkeyd", ikd->foreground,
	    &cause) == -1) {
		log_warnx("log settings not applied: %s", cause);
		free(cause);
	}
	return (conf == NULL ? -1 : 0);
}

/*
 * -k: create <key_dir>/<name>.key (0600) and <name>.pub (0644), RSA 1024 as
 * res_crypto loads it; never overwrite.  Returns the exit status.
 */
static int
keygen(void)
{
	const char		*name = conf_str(ikd->conf, "node:name");
	const char		*dir = conf_str(ikd->conf, "asterisk:key_dir");
	char			*key, *pub, *cause = NULL;
	struct rsakey_info	 info;
	int			 rc = 1;

	if (*name == '\0') {
		fprintf(stderr, "iaxkeyd: %s: node:name is not set\n",
		    ikd->conf_path);
		return (1);
	}
	xasprintf(&key, "%s/%s.key", dir, name);
	xasprintf(&pub, "%s/%s.pub", dir, name);
	if (rsakey_generate(key, pub, &cause) == -1 ||
	    rsakey_priv_check(key, &info, &cause) == -1)
		fprintf(stderr, "iaxkeyd: %s\n", cause);
	else {
		printf("created %s and %s (%s)\n", key, pub,
		    info.fingerprint);
		rc = 0;
	}
	free(cause);
	free(key);
	free(pub);
	return (rc);
}

/* Write [daemon] pid_file when one is configured. */
static void
pidfile_write(void)
{
	const char	*path = conf_str(ikd->conf, "daemon:pid_file");
	char		 buf[32], *cause;
	int		 n;

	if (*path == '\0')
		return;
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (afile_write(path, buf, n, 0644, &cause) == -1)
		fatalx("pid file: %s", cause);
}

/* Every session has ended after SIGTERM: leave the loop. */
static void
drained(void)
{
	event_base_loopexit(ikd->base, NULL);
}

/* SIGTERM, SIGINT, SIGHUP, SIGUSR1. */
static void
signal_cb(int sig, short events, void *arg)
{
	struct logline	 l;
	char		*cause = NULL;
	static int	 stopping;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (stopping++) {
			event_base_loopexit(ikd->base, NULL);
			return;
		}
		lf_begin(&l, LOG_L_INFO, "shutdown");
		lf_str(&l, "phase", "drain");
		lf_str(&l, "signal", sig == SIGTERM ? "TERM" : "INT");
		lf_int(&l, "active", server_active());
		lf_emit(&l);
		server_drain(drained);
		break;
	case SIGHUP:
		iaxkeyd_reload_config();
		break;
	case SIGUSR1:
		if (log_reopen(&cause) == -1) {
			log_warnx("reopen log: %s", cause);
			free(cause);
		}
		break;
	}
}

int
main(int argc, char **argv)
{
	static const int	 sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct event		*sigev[sizeof sigs / sizeof sigs[0]];
	struct logline		 l;
	char			*cause = NULL;
	int			 ch, check = 0, genkey = 0, readyfd = -1;
	size_t			 i;

	ikd = &ikd_store;
	ikd->conf_path = IAXKEYD_CONF;
	while ((ch = getopt(argc, argv, "df:kn")) != -1) {
		switch (ch) {
		case 'd':
			ikd->foreground = 1;
			break;
		case 'f':
			ikd->conf_path = optarg;
			break;
		case 'k':
			genkey = 1;
			break;
		case 'n':
			check = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	clock_gettime(CLOCK_REALTIME, &ikd->started);

	ikd->conf = conf_load(ikd->conf_path, iaxkeyd_conf_spec, &cause);
	if (ikd->conf != NULL && config_check(ikd->conf, &cause) == -1) {
		conf_free(ikd->conf);
		ikd->conf = NULL;
	}
	if (ikd->conf == NULL) {
		fprintf(stderr, "iaxkeyd: %s\n", cause);
		free(cause);
		return (1);
	}
	if (check) {
		printf("configuration OK\n");
		conf_free(ikd->conf);
		return (0);
	}
	if (genkey) {
		/* The key belongs to the user Asterisk reads it as. */
		if (daemon_drop_privileges(conf_str(ikd->conf, "daemon:user"),
		    conf_str(ikd->conf, "daemon:group"),
		    conf_bool(ikd->conf, "daemon:allow_root"), &cause) == -1) {
			fprintf(stderr, "iaxkeyd: %s\n", cause);
			free(cause);
			conf_free(ikd->conf);
			return (1);
		}
		ch = keygen();
		conf_free(ikd->conf);
		return (ch);
	}
	if (daemon_log_setup(ikd->conf, "iaxkeyd", ikd->foreground,
	    &cause) == -1) {
		fprintf(stderr, "iaxkeyd: %s\n", cause);
		free(cause);
		conf_free(ikd->conf);
		return (1);
	}
	if (!ikd->foreground)
		readyfd = daemon_detach();

	if ((ikd->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	/*
	 * Before anything is announced (event=listen): a signal that comes
	 * while the rest starts waits for the loop instead of killing us.
	 */
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		sigev[i] = evsignal_new(ikd->base, sigs[i], signal_cb, NULL);
		if (sigev[i] == NULL || evsignal_add(sigev[i], NULL) == -1)
			fatalx("cannot handle signal %d", sigs[i]);
	}
	/* Root's part: the listeners and the pid file; then let root go. */
	if (server_init(ikd->base, ikd->conf, &cause) == -1)
		fatalx("%s", cause);
	stats_serve(ikd->base, ikd->conf);
	if (console_init(ikd->base, ikd->conf, &cause) == -1)
		fatalx("%s", cause);
	pidfile_write();
	if (daemon_drop_privileges(conf_str(ikd->conf, "daemon:user"),
	    conf_str(ikd->conf, "daemon:group"),
	    conf_bool(ikd->conf, "daemon:allow_root"), &cause) == -1) {
		if (*conf_str(ikd->conf, "daemon:pid_file") != '\0')
			afile_remove(conf_str(ikd->conf, "daemon:pid_file"),
			    NULL);
		fatalx("%s", cause);
	}
	/* Files made from here on belong to the run-as user. */
	if ((ikd->store = store_open(conf_str(ikd->conf, "state:db"),
	    &cause)) == NULL)
		fatalx("state store: %s", cause);
	if (reload_init(ikd->conf, &cause) == -1 || peers_init(&cause) == -1 ||
	    keys_init(&cause) == -1 || sync_init(keys_http(), &cause) == -1 ||
	    rotate_init(&cause) == -1)
		fatalx("%s", cause);

	lf_begin(&l, LOG_L_INFO, "start");
	lf_str(&l, "version", IAXKEYD_VERSION);
	lf_int(&l, "pid", getpid());
	lf_int(&l, "uid", geteuid());
	lf_int(&l, "gid", getegid());
	lf_str(&l, "conf", ikd->conf_path);
	lf_str(&l, "libevent", event_get_version());
	lf_str(&l, "method", event_base_get_method(ikd->base));
	lf_emit(&l);
	daemon_ready(readyfd);

	event_base_dispatch(ikd->base);

	console_free();
	stats_serve_stop();
	keyops_free();		/* after the console clients stopped waiting */
	rotate_free();
	server_free();
	sync_free();
	keys_free();
	ksget_shutdown();
	names_free();
	reload_free();
	peers_free();
	h_outbound_free();
	store_close(ikd->store);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		event_free(sigev[i]);
	lf_begin(&l, LOG_L_INFO, "shutdown");
	lf_str(&l, "phase", "done");
	lf_emit(&l);
	event_base_free(ikd->base);
	if (*conf_str(ikd->conf, "daemon:pid_file") != '\0')
		afile_remove(conf_str(ikd->conf, "daemon:pid_file"), NULL);
	conf_free(ikd->conf);
	log_close();
	return (ikd->exit_code);
}
