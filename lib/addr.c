/* addr: socket address formatting. */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>

#include "lib/addr.h"

/* Format an IPv4 or IPv6 address with its port. */
char *
addr_format(const struct sockaddr *sa, socklen_t salen, char *buf,
    size_t size)
{
	char	host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6 &&
	    salen >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else
		snprintf(buf, size, "unknown");
	return (buf);
}
