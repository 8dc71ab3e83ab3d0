/*
 * rsakey: RSA key validation, fingerprints, generation and signatures
 * with OpenSSL 3 (no deprecated API).
 */
#ifndef OPENSSL_API_COMPAT
#define OPENSSL_API_COMPAT	30000
#endif
#ifndef OPENSSL_NO_DEPRECATED
#define OPENSSL_NO_DEPRECATED
#endif

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "lib/afile.h"
#include "lib/log.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"

#define RSAKEY_LABEL_MAX	64
#define RSAKEY_SIG_B64_MAX	4096

/* The outcome of scanning a buffer for PEM blocks. */
struct rsakey_pem {
	int		 nblocks;
	const char	*begin;		/* "-----BEGIN " of the first block */
	const char	*end;		/* just past its END line's dashes */
	char		 label[RSAKEY_LABEL_MAX];	/* its label */
	char		 private[RSAKEY_LABEL_MAX];	/* a PRIVATE label */
};

static int	 rsakey_isspace(int);
static int	 rsakey_blank(const char *, size_t);
static int	 rsakey_pem_scan(const char *, size_t, struct rsakey_pem *,
		    char **);
static int	 rsakey_pem_frame(const char *, size_t, struct rsakey_pem *,
		    char **);
static int	 rsakey_pem_body(struct rsakey_pem *, char **, unsigned char **,
		    long *, char **);
static int	 rsakey_der_whole(const unsigned char *, long);
static int	 rsakey_no_passphrase(char *, size_t, size_t *,
		    const OSSL_PARAM [], void *);
static EVP_PKEY	*rsakey_der_try(const unsigned char *, long, const char *,
		    const char *, int);
static EVP_PKEY	*rsakey_der_decode(const unsigned char *, long, const char *,
		    int);
static int	 rsakey_check_exponent(EVP_PKEY *, char **);
static int	 rsakey_check_pkey(EVP_PKEY *, struct rsakey_info *, char **);
static EVP_PKEY	*rsakey_pub_load(const char *, size_t, size_t,
		    struct rsakey_info *, char **);
static EVP_PKEY	*rsakey_priv_parse(const char *, size_t, const char *,
		    struct rsakey_info *, char **);
static EVP_PKEY	*rsakey_priv_load(const char *, struct rsakey_info *,
		    char **);
static int	 rsakey_absent(const char *, char **);
static int	 rsakey_pem_out(EVP_PKEY *, int, const char *, mode_t,
		    char **);
static int	 rsakey_b64_decode(const char *, unsigned char **, size_t *);

/* Return 1 for the whitespace allowed around a PEM block. */
static int
rsakey_isspace(int c)
{
	return (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f');
}

/* Return 1 when the len bytes at p are all whitespace. */
static int
rsakey_blank(const char *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (!rsakey_isspace((unsigned char)p[i]))
			return (0);
	}
	return (1);
}

/*
 * Count the "-----BEGIN <label>-----" lines in buf, note the first one
 * and the first label naming a private key.  -1 with *cause when a BEGIN
 * line is malformed.
 */
static int
rsakey_pem_scan(const char *buf, size_t len, struct rsakey_pem *pem,
    char **cause)
{
	static const char	 begin[] = "-----BEGIN ";
	const char		*p = buf, *end = buf + len, *l, *dash;
	size_t			 n;

	memset(pem, 0, sizeof *pem);
	while ((p = memmem(p, end - p, begin, sizeof begin - 1)) != NULL) {
		l = p + sizeof begin - 1;
		dash = memmem(l, end - l, "-----", 5);
		if (dash == NULL || memchr(l, '\n', dash - l) != NULL ||
		    (n = dash - l) == 0 || n >= RSAKEY_LABEL_MAX) {
			xasprintf(cause, "malformed PEM BEGIN line");
			return (-1);
		}
		if (pem->nblocks++ == 0) {
			pem->begin = p;
			memcpy(pem->label, l, n);
			pem->label[n] = '\0';
		}
		if (pem->private[0] == '\0' &&
		    memmem(l, n, "PRIVATE KEY", 11) != NULL) {
			memcpy(pem->private, l, n);
			pem->private[n] = '\0';
		}
		p = dash + 5;
	}
	return (0);
}

/*
 * Check that the single block found by rsakey_pem_scan has an END line
 * and only whitespace around it; set pem->end.
 */
static int
rsakey_pem_frame(const char *buf, size_t len, struct rsakey_pem *pem,
    char **cause)
{
	char		 endline[RSAKEY_LABEL_MAX + 16];
	const char	*end = buf + len, *e;
	int		 n;

	if (!rsakey_blank(buf, pem->begin - buf)) {
		xasprintf(cause, "junk before the PEM block");
		return (-1);
	}
	n = snprintf(endline, sizeof endline, "-----END %s-----", pem->label);
	if (n < 0 || (size_t)n >= sizeof endline) {
		/* Cannot happen: labels are short. */
		xasprintf(cause, "malformed PEM BEGIN line");
		return (-1);
	}
	e = memmem(pem->begin, end - pem->begin, endline, (size_t)n);
	if (e == NULL) {
		xasprintf(cause, "truncated PEM block: no \"%s\" line",
		    endline);
		return (-1);
	}
	pem->end = e + n;
	if (!rsakey_blank(pem->end, end - pem->end)) {
		xasprintf(cause, "junk after the PEM block");
		return (-1);
	}
	return (0);
}

/*
 * Decode the base64 body of the framed block: *header gets the PEM
 * headers (may be empty), *der and *dlen the bytes.  All are OpenSSL
 * allocations.
 */
static int
rsakey_pem_body(struct rsakey_pem *pem, char **header, unsigned char **der,
    long *dlen, char **cause)
{
	BIO	*bio;
	char	*name = NULL;
	int	 ok;

	*header = NULL;
	*der = NULL;
	*dlen = 0;
	if (pem->end - pem->begin > INT_MAX) {
		xasprintf(cause, "PEM block too large");
		return (-1);
	}
	bio = BIO_new_mem_buf(pem->begin, (int)(pem->end - pem->begin));
	if (bio == NULL) {
		xasprintf(cause, "out of memory in OpenSSL");
		return (-1);
	}
	ok = PEM_read_bio(bio, &name, header, der, dlen);
	BIO_free(bio);
	OPENSSL_free(name);
	if (!ok || *dlen <= 0) {
		OPENSSL_free(*header);
		OPENSSL_free(*der);
		*header = NULL;
		*der = NULL;
		xasprintf(cause, "bad PEM encoding (base64)");
		return (-1);
	}
	return (0);
}

/*
 * Return 1 when the n bytes at d are exactly one DER SEQUENCE (nothing
 * missing, nothing after it).
 */
static int
rsakey_der_whole(const unsigned char *d, long n)
{
	size_t	hdr, clen = 0, nlen, i;

	if (n < 2 || d[0] != 0x30)
		return (0);
	if (d[1] < 0x80) {
		hdr = 2;
		clen = d[1];
	} else {
		nlen = d[1] & 0x7f;
		if (nlen == 0 || nlen > 4 || (size_t)n < 2 + nlen)
			return (0);
		for (i = 0; i < nlen; i++)
			clen = (clen << 8) | d[2 + i];
		hdr = 2 + nlen;
	}
	return (hdr + clen == (size_t)n);
}

/* Passphrase callback that refuses: nothing may ever prompt. */
static int
rsakey_no_passphrase(char *pass, size_t size, size_t *plen,
    const OSSL_PARAM params[], void *arg)
{
	(void)pass;
	(void)size;
	(void)plen;
	(void)params;
	(void)arg;
	return (0);
}

/*
 * Decode DER bytes in the given structure ("SubjectPublicKeyInfo",
 * "PrivateKeyInfo", "type-specific") as a key of type keytype (NULL: any)
 * with the given selection; NULL on failure.
 */
static EVP_PKEY *
rsakey_der_try(const unsigned char *der, long dlen, const char *structure,
    const char *keytype, int selection)
{
	OSSL_DECODER_CTX	*dctx;
	EVP_PKEY		*pkey = NULL;
	const unsigned char	*p = der;
	size_t			 left = (size_t)dlen;

	dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", structure, keytype,
	    selection, NULL, NULL);
	if (dctx == NULL)
		return (NULL);
	if (OSSL_DECODER_CTX_get_num_decoders(dctx) == 0 ||
	    !OSSL_DECODER_CTX_set_passphrase_cb(dctx, rsakey_no_passphrase,
	    NULL) || !OSSL_DECODER_from_data(dctx, &p, &left)) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	OSSL_DECODER_CTX_free(dctx);
	return (pkey);
}

/*
 * Decode DER bytes as an RSA key (the fast path: a decoder chain for one
 * key type); when that fails and the structure can hold other types, try
 * any type so that the caller can say which one it is.
 */
static EVP_PKEY *
rsakey_der_decode(const unsigned char *der, long dlen, const char *structure,
    int selection)
{
	EVP_PKEY	*pkey;

	pkey = rsakey_der_try(der, dlen, structure, "RSA", selection);
	if (pkey == NULL && strcmp(structure, "type-specific") != 0)
		pkey = rsakey_der_try(der, dlen, structure, NULL, selection);
	return (pkey);
}

/*
 * Check the public exponent of an RSA key: odd and at least 3.  With e = 1
 * a "signature" is the padded digest itself, so anyone can forge one; an
 * even e is not RSA at all.
 */
static int
rsakey_check_exponent(EVP_PKEY *pkey, char **cause)
{
	BIGNUM	*e = NULL;
	int	 ok;

	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) {
		xasprintf(cause, "RSA key without a public exponent");
		return (-1);
	}
	ok = BN_is_odd(e) && BN_cmp(e, BN_value_one()) > 0;
	BN_free(e);
	if (!ok) {
		xasprintf(cause, "bad RSA public exponent: must be odd and at "
		    "least 3");
		return (-1);
	}
	return (0);
}

/*
 * Check that pkey is a 1024-bit RSA key with a sound public exponent and
 * fill info (may be NULL).
 */
static int
rsakey_check_pkey(EVP_PKEY *pkey, struct rsakey_info *info, char **cause)
{
	unsigned char	*der = NULL;
	const char	*type;
	int		 bits, n;

	if (!EVP_PKEY_is_a(pkey, "RSA")) {
		if ((type = EVP_PKEY_get0_type_name(pkey)) == NULL)
			type = "unknown type";
		xasprintf(cause, "not an RSA key (%s)", type);
		return (-1);
	}
	bits = EVP_PKEY_get_bits(pkey);
	if (bits != RSAKEY_BITS) {
		xasprintf(cause, "RSA key is %d bits, Asterisk needs %d", bits,
		    RSAKEY_BITS);
		return (-1);
	}
	if (rsakey_check_exponent(pkey, cause) == -1)
		return (-1);
	if (info == NULL)
		return (0);
	if ((n = i2d_PUBKEY(pkey, &der)) <= 0) {
		xasprintf(cause, "cannot encode the public key");
		return (-1);
	}
	info->bits = bits;
	memcpy(info->fingerprint, RSAKEY_FPR_PREFIX,
	    sizeof RSAKEY_FPR_PREFIX - 1);
	rsakey_sha256_hex(der, (size_t)n,
	    info->fingerprint + sizeof RSAKEY_FPR_PREFIX - 1);
	OPENSSL_free(der);
	return (0);
}

/* Validate a public key PEM and return it decoded; see rsakey.h. */
static EVP_PKEY *
rsakey_pub_load(const char *pem, size_t len, size_t max,
    struct rsakey_info *info, char **cause)
{
	struct rsakey_pem	 blk;
	EVP_PKEY		*pkey = NULL;
	unsigned char		*der = NULL;
	char			*header = NULL;
	long			 dlen;

	if (info != NULL)
		memset(info, 0, sizeof *info);
	if (len == 0) {
		xasprintf(cause, "empty key");
		return (NULL);
	}
	if (len > max) {
		xasprintf(cause, "key too large: %zu bytes, at most %zu", len,
		    max);
		return (NULL);
	}
	if (memchr(pem, '\0', len) != NULL) {
		xasprintf(cause, "NUL byte in key");
		return (NULL);
	}
	if (rsakey_pem_scan(pem, len, &blk, cause) == -1)
		return (NULL);
	if (blk.private[0] != '\0') {
		xasprintf(cause, "private key (BEGIN %s) where a public key "
		    "was expected", blk.private);
		return (NULL);
	}
	if (blk.nblocks == 0) {
		xasprintf(cause, rsakey_blank(pem, len) ? "empty key" :
		    "no PEM block");
		return (NULL);
	}
	if (blk.nblocks > 1) {
		xasprintf(cause, "%d PEM blocks, expected exactly one",
		    blk.nblocks);
		return (NULL);
	}
	if (strcmp(blk.label, "RSA PUBLIC KEY") == 0) {
		xasprintf(cause, "PKCS#1 \"RSA PUBLIC KEY\" block: Asterisk "
		    "loads only \"PUBLIC KEY\" (SubjectPublicKeyInfo)");
		return (NULL);
	}
	if (strcmp(blk.label, "PUBLIC KEY") != 0) {
		xasprintf(cause, "unexpected PEM block \"%s\", expected "
		    "PUBLIC KEY", blk.label);
		return (NULL);
	}
	if (rsakey_pem_frame(pem, len, &blk, cause) == -1)
		return (NULL);
	if (rsakey_pem_body(&blk, &header, &der, &dlen, cause) == -1)
		return (NULL);
	if (*header != '\0')
		xasprintf(cause, "PEM headers in a public key");
	else if (!rsakey_der_whole(der, dlen))
		xasprintf(cause, "bad key data (DER length)");
	else if ((pkey = rsakey_der_decode(der, dlen, "SubjectPublicKeyInfo",
	    EVP_PKEY_PUBLIC_KEY)) == NULL)
		xasprintf(cause, "cannot decode the public key");
	else if (rsakey_check_pkey(pkey, info, cause) == -1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	OPENSSL_free(header);
	OPENSSL_free(der);
	return (pkey);
}

/* Validate a public key PEM; see rsakey.h. */
int
rsakey_pub_validate(const char *pem, size_t len, size_t max,
    struct rsakey_info *info, char **cause)
{
	EVP_PKEY	*pkey;

	pkey = rsakey_pub_load(pem, len, max, info, cause);
	ERR_clear_error();
	if (pkey == NULL)
		return (-1);
	EVP_PKEY_free(pkey);
	return (0);
}

/*
 * Parse the content of a private key file (path for messages) and return
 * the key, checked as rsakey_priv_check says.
 */
static EVP_PKEY *
rsakey_priv_parse(const char *buf, size_t len, const char *path,
    struct rsakey_info *info, char **cause)
{
	struct rsakey_pem	 blk;
	EVP_PKEY		*pkey = NULL;
	unsigned char		*der = NULL;
	char			*header = NULL, *why = NULL;
	const char		*structure;
	long			 dlen = 0;

	if (memchr(buf, '\0', len) != NULL) {
		xasprintf(cause, "%s: NUL byte in key file", path);
		return (NULL);
	}
	if (rsakey_pem_scan(buf, len, &blk, &why) == -1)
		goto fail;
	if (blk.nblocks == 0) {
		why = xstrdup(rsakey_blank(buf, len) ? "empty key file" :
		    "no PEM block");
		goto fail;
	}
	if (blk.nblocks > 1) {
		xasprintf(&why, "%d PEM blocks, expected exactly one",
		    blk.nblocks);
		goto fail;
	}
	if (strcmp(blk.label, "ENCRYPTED PRIVATE KEY") == 0) {
		why = xstrdup("encrypted private key: Asterisk cannot load it "
		    "unattended");
		goto fail;
	}
	if (strcmp(blk.label, "PRIVATE KEY") == 0)
		structure = "PrivateKeyInfo";
	else if (strcmp(blk.label, "RSA PRIVATE KEY") == 0)
		structure = "type-specific";
	else if (blk.private[0] != '\0') {
		xasprintf(&why, "not an RSA private key (BEGIN %s)",
		    blk.label);
		goto fail;
	} else {
		xasprintf(&why, "not a private key (BEGIN %s)", blk.label);
		goto fail;
	}
	if (rsakey_pem_frame(buf, len, &blk, &why) == -1 ||
	    rsakey_pem_body(&blk, &header, &der, &dlen, &why) == -1)
		goto fail;
	if (strstr(header, "ENCRYPTED") != NULL) {
		why = xstrdup("encrypted private key: Asterisk cannot load it "
		    "unattended");
		goto fail;
	}
	if (*header != '\0') {
		why = xstrdup("unexpected PEM headers");
		goto fail;
	}
	if (!rsakey_der_whole(der, dlen)) {
		why = xstrdup("bad key data (DER length)");
		goto fail;
	}
	pkey = rsakey_der_decode(der, dlen, structure, EVP_PKEY_KEYPAIR);
	if (pkey == NULL) {
		why = xstrdup("cannot decode the private key");
		goto fail;
	}
	if (rsakey_check_pkey(pkey, info, &why) == -1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
		goto fail;
	}
	OPENSSL_free(header);
	OPENSSL_clear_free(der, (size_t)dlen);
	return (pkey);

fail:
	OPENSSL_free(header);
	OPENSSL_clear_free(der, (size_t)dlen);
	xasprintf(cause, "%s: %s", path, why);
	free(why);
	return (NULL);
}

/* Open, check and decode the private key file at path. */
static EVP_PKEY *
rsakey_priv_load(const char *path, struct rsakey_info *info, char **cause)
{
	struct stat	 st;
	EVP_PKEY	*pkey = NULL;
	char		*buf;
	size_t		 len;
	mode_t		 perm;
	int		 fd;

	if (info != NULL)
		memset(info, 0, sizeof *info);
	fd = open(path, O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK);
	if (fd == -1) {
		xasprintf(cause, "open %s: %s", path, strerror(errno));
		return (NULL);
	}
	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "stat %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "%s: not a regular file", path);
		goto out;
	}
	perm = st.st_mode & 07777;
	if (perm != 0600 && perm != 0400) {
		xasprintf(cause, "%s: mode %04o: Asterisk refuses private keys "
		    "whose mode is not 0600 or 0400", path, (unsigned)perm);
		goto out;
	}
	if (afile_read_fd(fd, path, RSAKEY_PEM_MAX, &buf, &len, cause) == -1)
		goto out;
	pkey = rsakey_priv_parse(buf, len, path, info, cause);
	OPENSSL_cleanse(buf, len);
	free(buf);
out:
	close(fd);
	return (pkey);
}

/* Check the node's own private key file; see rsakey.h. */
int
rsakey_priv_check(const char *path, struct rsakey_info *info, char **cause)
{
	EVP_PKEY	*pkey;

	pkey = rsakey_priv_load(path, info, cause);
	ERR_clear_error();
	if (pkey == NULL)
		return (-1);
	EVP_PKEY_free(pkey);
	return (0);
}

/* Fail with "<path> exists" unless nothing is at path. */
static int
rsakey_absent(const char *path, char **cause)
{
	struct stat	st;

	if (lstat(path, &st) == 0) {
		xasprintf(cause, "%s exists", path);
		return (-1);
	}
	if (errno != ENOENT) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * Write pkey as PEM to path with afile_write: the unencrypted PKCS#8
 * private key when private is set, else the SPKI public key.
 */
static int
rsakey_pem_out(EVP_PKEY *pkey, int private, const char *path, mode_t mode,
    char **cause)
{
	BIO	*bio;
	char	*data;
	long	 n;
	int	 ok, rv = -1;

	/* Secure memory BIO: the private key is cleared when freed. */
	bio = BIO_new(private ? BIO_s_secmem() : BIO_s_mem());
	if (bio == NULL) {
		xasprintf(cause, "out of memory in OpenSSL");
		return (-1);
	}
	if (private)
		ok = PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
		    NULL);
	else
		ok = PEM_write_bio_PUBKEY(bio, pkey);
	if (!ok || (n = BIO_get_mem_data(bio, &data)) <= 0)
		xasprintf(cause, "cannot encode the %s key",
		    private ? "private" : "public");
	else
		rv = afile_write(path, data, (size_t)n, mode, cause);
	BIO_free(bio);
	return (rv);
}

/* Generate a key pair into two new files; see rsakey.h. */
int
rsakey_generate(const char *key_path, const char *pub_path, char **cause)
{
	EVP_PKEY_CTX	*ctx = NULL;
	EVP_PKEY	*pkey = NULL;
	BIGNUM		*e = NULL;
	int		 rv = -1;

	if (rsakey_absent(key_path, cause) == -1 ||
	    rsakey_absent(pub_path, cause) == -1)
		return (-1);
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    (e = BN_new()) == NULL || !BN_set_word(e, RSA_F4) ||
	    EVP_PKEY_keygen_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, RSAKEY_BITS) <= 0 ||
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) <= 0 ||
	    EVP_PKEY_generate(ctx, &pkey) <= 0) {
		xasprintf(cause, "RSA key generation failed");
		goto out;
	}
	if (rsakey_pem_out(pkey, 1, key_path, 0600, cause) == -1)
		goto out;
	if (rsakey_pem_out(pkey, 0, pub_path, 0644, cause) == -1) {
		afile_remove(key_path, NULL);
		goto out;
	}
	rv = 0;
out:
	EVP_PKEY_free(pkey);
	BN_free(e);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return (rv);
}

/* Sign msg with the private key file; see rsakey.h. */
int
rsakey_sign(const char *key_path, const void *msg, size_t len,
    char **sig_b64, char **cause)
{
	EVP_MD_CTX	*mctx = NULL;
	EVP_PKEY_CTX	*pctx;
	EVP_PKEY	*pkey;
	unsigned char	*sig = NULL;
	size_t		 siglen = 0;
	int		 rv = -1;

	*sig_b64 = NULL;
	if ((pkey = rsakey_priv_load(key_path, NULL, cause)) == NULL)
		goto out;
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(mctx, &pctx, EVP_sha256(), NULL, pkey) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_DigestSign(mctx, NULL, &siglen, msg, len) <= 0) {
		xasprintf(cause, "cannot sign with %s", key_path);
		goto out;
	}
	sig = xmalloc(siglen);
	if (EVP_DigestSign(mctx, sig, &siglen, msg, len) <= 0) {
		xasprintf(cause, "cannot sign with %s", key_path);
		goto out;
	}
	*sig_b64 = xmalloc(4 * ((siglen + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)*sig_b64, sig, (int)siglen);
	rv = 0;
out:
	free(sig);
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return (rv);
}

/*
 * Decode strict base64 (no whitespace, padded, at most
 * RSAKEY_SIG_B64_MAX characters) into a new buffer; 0 or -1.
 */
static int
rsakey_b64_decode(const char *s, unsigned char **out, size_t *outlen)
{
	static const char	 alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t			 len, i, pad = 0;
	int			 n;

	*out = NULL;
	*outlen = 0;
	len = strnlen(s, RSAKEY_SIG_B64_MAX + 1);
	if (len == 0 || len > RSAKEY_SIG_B64_MAX || len % 4 != 0)
		return (-1);
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len - pad; i++) {
		if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL)
			return (-1);
	}
	*out = xmalloc(len / 4 * 3 + 1);
	if ((n = EVP_DecodeBlock(*out, (const unsigned char *)s, (int)len)) <
	    0 || (size_t)n < pad) {
		free(*out);
		*out = NULL;
		return (-1);
	}
	*outlen = (size_t)n - pad;
	return (0);
}

/* Verify a base64 signature of msg; see rsakey.h. */
int
rsakey_verify(const char *pub_pem, size_t pem_len, const void *msg,
    size_t len, const char *sig_b64, char **cause)
{
	EVP_MD_CTX	*mctx = NULL;
	EVP_PKEY_CTX	*pctx;
	EVP_PKEY	*pkey;
	unsigned char	*sig = NULL;
	size_t		 siglen;
	int		 rv = -1;

	if ((pkey = rsakey_pub_load(pub_pem, pem_len, RSAKEY_PEM_MAX, NULL,
	    cause)) == NULL)
		goto out;
	if (rsakey_b64_decode(sig_b64, &sig, &siglen) == -1) {
		xasprintf(cause, "signature is not valid base64");
		goto out;
	}
	if (siglen != (size_t)EVP_PKEY_get_size(pkey)) {
		xasprintf(cause, "signature is %zu bytes, expected %d", siglen,
		    EVP_PKEY_get_size(pkey));
		goto out;
	}
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(mctx, &pctx, EVP_sha256(), NULL, pkey) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) {
		xasprintf(cause, "cannot set up signature verification");
		goto out;
	}
	if (EVP_DigestVerify(mctx, sig, siglen, msg, len) != 1) {
		xasprintf(cause, "signature does not verify");
		goto out;
	}
	rv = 0;
out:
	free(sig);
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return (rv);
}

/* Write the lowercase hex SHA-256 of buf into out; see rsakey.h. */
void
rsakey_sha256_hex(const void *buf, size_t len, char out[65])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0, i;
	const char		*why;

	/*
	 * Passwords and tokens are compared through this digest: a failure
	 * (OpenSSL without SHA-256, or out of memory) must never yield a
	 * value that two inputs share.  Like an allocation failure, it ends
	 * the process.
	 */
	if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != 32) {
		why = ERR_reason_error_string(ERR_get_error());
		fatalx("SHA-256 unavailable: %s", why != NULL ? why :
		    "unknown");
	}
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[64] = '\0';
	ERR_clear_error();
}
