/*
 * dialstr: the outbound destination, from an IAX2 MD5 dial string
 * ("IAX2/user:secret@host[:port]/exten[@context]") or from named
 * arguments (host=, port=, user=, secret=, exten=, context=), validated
 * strictly, and the dial strings iaxkeyd hands back.
 *
 *   host     DNS name, IPv4 address, or [IPv6] in brackets
 *   port     1-65535, default 4569
 *   user     [A-Za-z0-9._-]{1,79} (an iax.conf section name at most)
 *   secret   printable ASCII without space ; : @ / [ ] " \ #, 1-127
 *   exten    [A-Za-z0-9._+*#-]{1,79}
 *   context  [A-Za-z0-9._-]{1,79}, optional
 */
#ifndef DIALSTR_H
#define DIALSTR_H

#include <stddef.h>

#define DIAL_PORT_DEFAULT	4569
#define DIAL_HOST_MAX		253
#define DIAL_USER_MAX		79
#define DIAL_SECRET_MAX		127
#define DIAL_EXTEN_MAX		79
#define DIAL_STR_MAX		768	/* any dial string built here */

struct dialdest {
	char	host[DIAL_HOST_MAX + 3];	/* as given, [v6] bracketed */
	int	v6;
	int	port;				/* 0 until set */
	char	user[DIAL_USER_MAX + 1];
	char	secret[DIAL_SECRET_MAX + 1];
	char	exten[DIAL_EXTEN_MAX + 1];
	char	context[DIAL_EXTEN_MAX + 1];
};

void	dialdest_init(struct dialdest *);
/*
 * Parse a dial string.  Returns 0, or -1 with *field (the field at fault,
 * static) and *why (static).
 */
int	dialstr_parse(const char *, struct dialdest *, const char **,
	    const char **);
/* Set one named argument "name=value"; 0 or -1 as dialstr_parse. */
int	dialdest_arg(struct dialdest *, const char *, const char **,
	    const char **);
/* Check that the required fields are present; 0 or -1. */
int	dialdest_complete(struct dialdest *, const char **, const char **);
/* The host without brackets (for host= in iax.conf). */
void	dialdest_host_plain(const struct dialdest *, char *, size_t);
/* IAX2/user:secret@host:port/exten[@context] */
void	dialdest_md5(const struct dialdest *, char *, size_t);
/* IAX2/user:secret:[key]@host:port/exten[@context] */
void	dialdest_rsa_inline(const struct dialdest *, const char *, char *,
	    size_t);
/* IAX2/peer/exten[@context] */
void	dialdest_peer(const struct dialdest *, const char *, char *, size_t);

#endif
