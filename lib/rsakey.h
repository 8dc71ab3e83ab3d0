/*
 * rsakey: RSA keys as Asterisk's res_crypto accepts them (PEM, RSA,
 * exactly 1024 bits, an odd public exponent of at least 3, public keys as
 * SubjectPublicKeyInfo, private keys unencrypted and mode 0600 or 0400):
 * validation, fingerprints, key generation, and SHA-256 PKCS#1 v1.5
 * signatures for our own uploads.
 *
 * Fingerprint: "sha256:" followed by 64 lowercase hex digits of the
 * SHA-256 of the key's DER SubjectPublicKeyInfo (what i2d_PUBKEY and
 * "openssl pkey -pubin -outform DER" produce).  It is the same for a
 * public key and the public half of its private key.
 *
 * Every function clears OpenSSL's error queue before it returns.  The
 * cause arguments must not be NULL.
 */
#ifndef RSAKEY_H
#define RSAKEY_H

#include <stddef.h>

#define RSAKEY_BITS		1024	/* the only size res_crypto loads */
#define RSAKEY_PEM_MAX		16384	/* cap on a PEM key file we read */
#define RSAKEY_FPR_PREFIX	"sha256:"

struct rsakey_info {
	int	bits;
	char	fingerprint[72];	/* "sha256:" + 64 hex + NUL */
};

/*
 * Validate a public key as Asterisk loads it (PEM_read_PUBKEY): exactly
 * one PEM block, "BEGIN PUBLIC KEY" (SubjectPublicKeyInfo), with only
 * whitespace around it, an RSA key of exactly 1024 bits whose public
 * exponent is odd and at least 3.  Rejects empty input, more than max
 * bytes, NUL bytes, any private key block, PKCS#1 "BEGIN RSA PUBLIC KEY"
 * blocks, several blocks, leading or trailing junk, PEM headers, bad
 * base64 or DER (also trailing bytes inside the DER), other key types,
 * other sizes and degenerate exponents (e = 1 makes every signature
 * forgeable).  The one check of both daemons: iaxkey-server on upload and
 * at start, iaxkeyd on every fetched key and on its own public key.
 * Fills info (may be NULL).  Returns 0 or -1 with *cause (caller frees).
 */
int	rsakey_pub_validate(const char *, size_t, size_t, struct rsakey_info *,
	    char **);

/*
 * Check the node's own private key file at path: a regular file (symbolic
 * links are followed, as Asterisk does), mode exactly 0600 or 0400,
 * at most RSAKEY_PEM_MAX bytes, one unencrypted PEM private key ("BEGIN
 * PRIVATE KEY" PKCS#8 or "BEGIN RSA PRIVATE KEY" PKCS#1) with only
 * whitespace around it, RSA, 1024 bits, odd public exponent >= 3.  Fills
 * info (may be NULL) with the public half's fingerprint.  Returns 0 or -1
 * with *cause (caller frees).
 */
int	rsakey_priv_check(const char *, struct rsakey_info *, char **);

/*
 * Generate a 1024-bit RSA key (e = 65537); write the private key as
 * unencrypted PKCS#8 PEM, mode 0600, to key_path and the public key as
 * SPKI PEM, mode 0644, to pub_path, both with afile_write.  Fails with
 * "<path> exists" if either file (or a symbolic link) is already there;
 * when the public key cannot be written the private key is removed again.
 * Returns 0 or -1 with *cause (caller frees).
 */
int	rsakey_generate(const char *, const char *, char **);

/*
 * Sign len bytes of msg with the private key file key_path (checked as by
 * rsakey_priv_check): SHA-256, PKCS#1 v1.5.  *sig_b64 is the base64
 * signature without newlines (caller frees).  Returns 0 or -1 with *cause.
 */
int	rsakey_sign(const char *, const void *, size_t, char **, char **);

/*
 * Verify the base64 signature sig_b64 (SHA-256, PKCS#1 v1.5) of len bytes
 * of msg with the public key pub_pem (pem_len bytes, validated as by
 * rsakey_pub_validate with max RSAKEY_PEM_MAX).  Returns 0 when the
 * signature is valid, -1 with *cause (caller frees) when it is not or
 * anything fails.
 */
int	rsakey_verify(const char *, size_t, const void *, size_t, const char *,
	    char **);

/*
 * Write the lowercase hex SHA-256 of len bytes of buf into out; exits
 * (fatalx) when OpenSSL cannot digest, as xmalloc does without memory.
 */
void	rsakey_sha256_hex(const void *, size_t, char [65]);

#endif
