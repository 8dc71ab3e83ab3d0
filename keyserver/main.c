/*
 * iaxkey-server: main.  Options, startup order, signals, "token add".
 *
 *   iaxkey-server [-d] [-n] [-f FILE]
 *   iaxkey-server [-f FILE] token add NODE
 *
 * Startup: load and validate the configuration, open the logs, (unless
 * -d) detach, load every key into memory, bind the listener, then tell
 * the parent we are ready.  SIGTERM and SIGINT stop, SIGUSR1 reopens the
 * log file.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/conf.h"
#include "lib/daemon.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "keyserver/ks.h"

#define KS_CONF	"/etc/iaxkeyd/iaxkey-server.conf"

static struct event_base	*ks_base;

static void	usage(void) __attribute__((noreturn));
static void	signal_cb(evutil_socket_t, short, void *);
static int	token_cmd(const struct conf *, int, char **);

/* Print usage and exit. */
static void
usage(void)
{
	fprintf(stderr, "usage: iaxkey-server [-dn] [-f file]\n"
	    "       iaxkey-server [-f file] token add node\n");
	exit(2);
}




/* SIGTERM, SIGINT, SIGHUP, SIGUSR1. */
static void
signal_cb(evutil_socket_t sig, short events, void *arg)
{
	struct logline	 l;
	char		*cause = NULL;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		lf_begin(&l, LOG_L_INFO, "shutdown");
		lf_str(&l, "signal", sig == SIGTERM ? "TERM" : "INT");
		lf_int(&l, "active", conn_active());
		lf_emit(&l);
		event_base_loopexit(ks_base, NULL);
		break;
	case SIGHUP:
		log_warnx("SIGHUP: configuration reload is not supported; "
		    "restart iaxkey-server to apply changes");
		break;
	case SIGUSR1:
		if (log_reopen(&cause) == -1) {
			log_warnx("reopen log: %s", cause);
			free(cause);
		}
		break;
	}
}

/*
 * "token add NODE": print a new enrolment token for NODE on stdout (its
 * SHA-256 goes to the store).  Returns the exit status.
 */
static int
token_cmd(const struct conf *conf, int argc, char **argv)
{
	char	*token = NULL, *cause = NULL;

	if (argc != 3 || strcmp(argv[0], "token") != 0 ||
	    strcmp(argv[1], "add") != 0)
		usage();
	if (nodeauth_token_add(conf, argv[2], &token, &cause) == -1) {
		fprintf(stderr, "iaxkey-server: token add %s: %s\n",
		    argv[2], cause);
		free(cause);
		return (1);
	}
	printf("%s\n", token);
	free(token);
	return (fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1);
}

int
main(int argc, char **argv)
{
	static const int	 sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct event		*sigev[sizeof sigs / sizeof sigs[0]];
	struct conf		*conf;
	struct logline		 l;
	const char		*path = KS_CONF;
	char			*cause = NULL;
	int			 ch, check = 0, foreground = 0, readyfd = -1;
	int			 rc;
	size_t			 i;

	while ((ch = getopt(argc, argv, "df:n")) != -1) {
		switch (ch) {
		case 'd':
			foreground = 1;
			break;
		case 'f':
			path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 0 && (check || foreground))
		usage();
	signal(SIGPIPE, SIG_IGN);

	conf = conf_load(path, iaxkey_server_conf_spec, &cause);
	if (conf == NULL || conn_tls_check(conf, &cause) == -1) {
		fprintf(stderr, "iaxkey-server: %s\n", cause);
		free(cause);
		conf_free(conf);
		return (1);
	}
	if (argc != 0) {
		rc = token_cmd(conf, argc, argv);
		conf_free(conf);
		return (rc);
	}
	if (check) {
		printf("configuration OK\n");
		conf_free(conf);
		return (0);
	}
	if (daemon_log_setup(conf, "iaxkey-server", foreground, &cause) == -1) {
		fprintf(stderr, "iaxkey-server: %s\n", cause);
		free(cause);
		conf_free(conf);
		return (1);
	}
	if (!foreground)
		readyfd = daemon_detach();

	if ((ks_base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if (keys_init(conf, &cause) == -1)
		fatalx("%s", cause);
	guard_init(conf);
	api_init(conf);
	if (conn_init(ks_base, conf, &cause) == -1)
		fatalx("%s", cause);
	if (stats_serve(ks_base, conf, &cause) == -1)
		fatalx("metrics:listen: %s", cause);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		sigev[i] = evsignal_new(ks_base, sigs[i], signal_cb, NULL);
		if (sigev[i] == NULL || evsignal_add(sigev[i], NULL) == -1)
			fatalx("cannot handle signal %d", sigs[i]);
	}
	lf_begin(&l, LOG_L_INFO, "start");
	lf_str(&l, "version", KS_VERSION);
	lf_str(&l, "config", path);
	lf_int(&l, "keys", (long long)keys_count());
	lf_emit(&l);
	daemon_ready(readyfd);

	event_base_dispatch(ks_base);

	stats_serve_stop();
	conn_free();
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		event_free(sigev[i]);
	guard_free();
	keys_free();
	event_base_free(ks_base);
	lf_begin(&l, LOG_L_INFO, "stop");
	lf_emit(&l);
	log_close();
	conf_free(conf);
	return (0);
}
