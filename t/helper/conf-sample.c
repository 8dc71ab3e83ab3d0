/*
 * conf-sample: print the documented sample configuration generated from
 * a spec table: iaxkeyd's, or with the argument "iaxkey-server" the key
 * server's.  Regenerate the committed samples with
 *	t/helper/conf-sample > etc/iaxkeyd.conf
 *	t/helper/conf-sample iaxkey-server > etc/iaxkey-server.conf
 * (t/0003-conf.t fails when they differ).
 */
#include <stdio.h>
#include <string.h>

#include "agi/config.c"
#include "keyserver/config.c"

/* Print the sample. */
int
main(int argc, char **argv)
{
	if (argc > 2 || (argc == 2 && strcmp(argv[1], "iaxkey-server") != 0)) {
		fprintf(stderr, "usage: conf-sample [iaxkey-server]\n");
		return (2);
	}
	conf_sample(argc == 2 ? iaxkey_server_conf_spec : iaxkeyd_conf_spec,
	    stdout);
	return (fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1);
}
