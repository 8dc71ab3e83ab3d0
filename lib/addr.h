/* addr: socket address formatting ("1.2.3.4:5", "[::1]:5"). */
#ifndef ADDR_H
#define ADDR_H

#include <sys/socket.h>
#include <stddef.h>

#define ADDR_STR_MAX	64

/* Format sa into buf; "unknown" for other families.  Returns buf. */
char	*addr_format(const struct sockaddr *, socklen_t, char *, size_t);

#endif
