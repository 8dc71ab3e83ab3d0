/*
 * conf-sample: print the documented sample configuration generated from
 * iaxkeyd's spec table.  Regenerate the committed sample with
 *	t/helper/conf-sample > etc/iaxkeyd.conf
 * (t/0003-conf.t fails when the two differ).
 */
#include <stdio.h>

#include "agi/config.c"

/* Print the sample. */
int
main(void)
{
	conf_sample(iaxkeyd_conf_spec, stdout);
	return (fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1);
}
