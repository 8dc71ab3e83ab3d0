/*
 * fuzz-rsakey: public key validation as the key fetch (agi/keys.c) and
 * the key server's PUT take a PEM from the network: rsakey_pub_validate()
 * with the fetch size cap, and rsakey_verify() of a signature header
 * against it.  The input is "PEM[\0signature]"; after a valid key the
 * signature is checked over a fixed canonical string.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/rsakey.h"
#include "t/fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	 canon[] = "PUT\nnode-a\n1700000000\n"
				    "abcdefghijklmnop\n"
				    "e3b0c44298fc1c149afbf4c8996fb924"
				    "27ae41e4649b934ca495991b7852b855";
	struct rsakey_info	 info;
	const char		*pem = (const char *)data, *nul;
	char			*cause = NULL, *sig;
	size_t			 len = size, slen = 0;

	/* The signature part, if any, after the first NUL. */
	if ((nul = memchr(data, '\0', size)) != NULL) {
		len = nul - pem;
		slen = size - len - 1;
	}
	memset(&info, 0, sizeof info);
	if (rsakey_pub_validate(pem, len, RSAKEY_PEM_MAX, &info,
	    &cause) == -1) {
		FUZZ_CHECK(cause != NULL);
		free(cause);
		return (0);
	}
	FUZZ_CHECK(cause == NULL && info.bits == RSAKEY_BITS);
	FUZZ_CHECK(strncmp(info.fingerprint, RSAKEY_FPR_PREFIX,
	    strlen(RSAKEY_FPR_PREFIX)) == 0 &&
	    strlen(info.fingerprint) == strlen(RSAKEY_FPR_PREFIX) + 64);
	if (nul == NULL)
		return (0);
	if ((sig = malloc(slen + 1)) == NULL)
		abort();
	memcpy(sig, nul + 1, slen);
	sig[slen] = '\0';
	if (rsakey_verify(pem, len, canon, strlen(canon), sig, &cause) == -1) {
		FUZZ_CHECK(cause != NULL);
		free(cause);
	}
	free(sig);
	return (0);
}
