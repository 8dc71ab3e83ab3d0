/*
 * astargs: how Asterisk splits an application's data into arguments
 * (__ast_app_separate_args in main/app.c), for the emulators' MSet().
 *
 * The delimiter splits only outside double quotes, parentheses and
 * brackets.  With remove_chars, '"' characters are dropped and '\' is
 * dropped and makes the next character literal.  At most arraylen
 * arguments: the last one takes the rest of the string, unparsed.  A
 * string that ends with the delimiter has one more, empty, argument.
 * Included by the test helpers only (static).
 */
#ifndef ASTARGS_H
#define ASTARGS_H

#include <string.h>

/* Split buf in place; returns the number of arguments. */
static int
astargs_split(char *buf, char delim, int remove_chars, char **array,
    int arraylen)
{
	char	*scan = buf, *last_delim = NULL;
	int	 argc, paren = 0, bracket = 0, quote = 0;

	memset(array, 0, arraylen * sizeof *array);
	for (argc = 0; *scan != '\0' && argc < arraylen - 1; argc++) {
		array[argc] = scan;
		for (; *scan != '\0'; scan++) {
			if (*scan == '(')
				paren++;
			else if (*scan == ')') {
				if (paren > 0)
					paren--;
			} else if (*scan == '[')
				bracket++;
			else if (*scan == ']') {
				if (bracket > 0)
					bracket--;
			} else if (*scan == '"' && delim != '"') {
				quote = !quote;
				if (remove_chars) {
					memmove(scan, scan + 1, strlen(scan));
					scan--;
				}
			} else if (*scan == '\\') {
				if (remove_chars)
					memmove(scan, scan + 1, strlen(scan));
				else if (scan[1] != '\0')
					scan++;
				if (*scan == '\0')
					break;
			} else if (*scan == delim && !paren && !quote &&
			    !bracket) {
				*scan++ = '\0';
				last_delim = scan - 1;
				break;
			}
		}
	}
	if (*scan != '\0' || (scan > buf && scan - 1 == last_delim))
		array[argc++] = scan;
	return (argc);
}

#endif
