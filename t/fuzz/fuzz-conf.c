/*
 * fuzz-conf: an iaxkeyd.conf as conf_load() reads it (its own line scan,
 * then iniparser) against the real spec table (agi/config.c, with its
 * value checks), then conf_show() as "config get" prints a loaded one.
 * iniparser reads only from a file: every input goes to the same
 * temporary file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agi/config.h"
#include "lib/conf.h"
#include "t/fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		*path;
	static FILE		*null;
	struct conf		*c;
	char			*cause = NULL;

	if (path == NULL) {
		path = fuzz_path("iaxkeyd.conf");
		if ((null = fopen("/dev/null", "w")) == NULL)
			abort();
	}
	fuzz_write(path, data, size, 0600);
	if ((c = conf_load(path, iaxkeyd_conf_spec, &cause)) == NULL) {
		FUZZ_CHECK(cause != NULL && strncmp(cause, path,
		    strlen(path)) == 0);
		free(cause);
		return (0);
	}
	FUZZ_CHECK(cause == NULL);
	conf_show(c, null);
	FUZZ_CHECK(strcmp(conf_file(c), path) == 0);
	conf_free(c);
	return (0);
}
