/*
 * 0005-rsakey: lib/rsakey.c against keys made by the library itself and
 * by the openssl command line tool (run with fork and execvp).  Runs from
 * the repository root; works in t/trash.rsakey.XXXXXX (kept when a test
 * fails).
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "lib/afile.h"
#include "lib/rsakey.h"
#include "lib/xmalloc.h"
#include "t/lib/tap.h"

#define MAX_ARGS	32
#define MSG		"PUT /v1/keys/node-a\n1700000000\n"

static char	 trash[] = "t/trash.rsakey.XXXXXX";

static char	*tpath(const char *);
static int	 spawn(const char *, char **);
static int	 run(const char *, ...) __attribute__((sentinel));
static int	 openssl_ok(const char *, ...) __attribute__((sentinel));
static char	*slurp(const char *, size_t *);
static char	*concat(const char *, size_t, const char *, size_t, size_t *);
static void	 rejects(const char *, size_t, const char *, const char *);
static void	 priv_rejects(const char *, const char *, const char *);
static int	 fpr_sane(const char *);
static char	*pub_with_exponent(unsigned long, size_t *);
static int	 rm_one(const char *, const struct stat *, int, struct FTW *);
static void	 make_keys(void);
static void	 test_sha256(void);
static void	 test_pub_ok(void);
static void	 test_pub_reject(void);
static void	 test_priv(void);
static void	 test_generate(void);
static void	 test_sign(void);

/* Return a new path inside the trash directory (caller frees). */
static char *
tpath(const char *name)
{
	char	*p;

	xasprintf(&p, "%s/%s", trash, name);
	return (p);
}

/*
 * Run argv in the trash directory (names are relative to it) with stdin
 * from /dev/null, stdout to the trash file out (NULL: /dev/null) and
 * stderr appended to stderr.log there; return its exit status or -1.
 */
static int
spawn(const char *out, char **argv)
{
	char	*o = out != NULL ? tpath(out) : xstrdup("/dev/null");
	char	*log = tpath("stderr.log");
	pid_t	 pid;
	int	 status, fd;

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		bail("fork: %s", strerror(errno));
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDONLY)) != -1)
			dup2(fd, 0);
		if ((fd = open(o, O_WRONLY|O_CREAT|O_TRUNC, 0644)) != -1)
			dup2(fd, 1);
		if ((fd = open(log, O_WRONLY|O_CREAT|O_APPEND, 0644)) != -1)
			dup2(fd, 2);
		if (chdir(trash) == -1)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	free(o);
	free(log);
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			return (-1);
	}
	return (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Run a NULL-terminated command with spawn; its exit status or -1. */
static int
run(const char *out, ...)
{
	char	*argv[MAX_ARGS + 1];
	va_list	 ap;
	int	 argc = 0;

	va_start(ap, out);
	while (argc < MAX_ARGS && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	return (spawn(out, argv));
}

/* Run "openssl arg1 ..." (NULL-terminated) with spawn; 1 on success. */
static int
openssl_ok(const char *arg1, ...)
{
	char	*argv[MAX_ARGS + 1];
	va_list	 ap;
	int	 argc = 2;

	argv[0] = (char *)"openssl";
	argv[1] = (char *)arg1;
	va_start(ap, arg1);
	while (argc < MAX_ARGS && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	return (spawn(NULL, argv) == 0);
}

/* Read a trash file whole (caller frees); bail when it cannot be read. */
static char *
slurp(const char *name, size_t *len)
{
	char	*p = tpath(name), *buf, *cause = NULL;

	if (afile_read(p, 1 << 20, &buf, len, &cause) != 0)
		bail("read %s: %s", p, cause ? cause : "absent");
	free(p);
	return (buf);
}

/* Return a new buffer holding a then b (NUL-terminated, caller frees). */
static char *
concat(const char *a, size_t alen, const char *b, size_t blen, size_t *len)
{
	char	*p = xmalloc(alen + blen + 1);

	memcpy(p, a, alen);
	memcpy(p + alen, b, blen);
	p[alen + blen] = '\0';
	*len = alen + blen;
	return (p);
}

/* Check that a public key is rejected with a cause containing want. */
static void
rejects(const char *pem, size_t len, const char *want, const char *what)
{
	struct rsakey_info	 info;
	char			*cause = NULL;
	int			 rv;

	rv = rsakey_pub_validate(pem, len, RSAKEY_PEM_MAX, &info, &cause);
	ok(rv == -1 && cause != NULL && strstr(cause, want) != NULL,
	    "rejects %s: %s", what, cause ? cause : "(accepted)");
	ok(ERR_peek_error() == 0, "%s: OpenSSL error queue empty", what);
	free(cause);
}

/* Check that a private key file is refused with a cause holding want. */
static void
priv_rejects(const char *name, const char *want, const char *what)
{
	struct rsakey_info	 info;
	char			*p = tpath(name), *cause = NULL;
	int			 rv;

	rv = rsakey_priv_check(p, &info, &cause);
	ok(rv == -1 && cause != NULL && strstr(cause, want) != NULL,
	    "priv_check refuses %s: %s", what, cause ? cause : "(accepted)");
	ok(ERR_peek_error() == 0, "%s: OpenSSL error queue empty", what);
	free(cause);
	free(p);
}

/*
 * The modulus of k.pub with public exponent e, as an SPKI PEM (caller
 * frees): keys no key generator makes.
 */
static char *
pub_with_exponent(unsigned long e, size_t *len)
{
	OSSL_PARAM_BLD	*bld;
	OSSL_PARAM	*params;
	EVP_PKEY_CTX	*ctx;
	EVP_PKEY	*k, *pkey = NULL;
	BIGNUM		*n = NULL, *bn_e;
	BIO		*bio;
	char		*pem, *data, *der;
	size_t		 dlen;
	long		 blen;
	const unsigned char *p;

	der = slurp("k.der", &dlen);
	p = (const unsigned char *)der;
	if ((k = d2i_PUBKEY(NULL, &p, (long)dlen)) == NULL ||
	    !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n))
		bail("k.der: cannot read the modulus");
	bn_e = BN_new();
	if (bn_e == NULL || !BN_set_word(bn_e, e) ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		bail("cannot make an RSA key with e = %lu", e);
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_PUBKEY(bio, pkey) ||
	    (blen = BIO_get_mem_data(bio, &data)) <= 0)
		bail("cannot encode an RSA key with e = %lu", e);
	pem = xmalloc((size_t)blen + 1);
	memcpy(pem, data, (size_t)blen);
	pem[blen] = '\0';
	*len = (size_t)blen;
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_e);
	BN_free(n);
	EVP_PKEY_free(k);
	free(der);
	ERR_clear_error();
	return (pem);
}

/* Return 1 when s is "sha256:" and 64 lowercase hex digits. */
static int
fpr_sane(const char *s)
{
	size_t	i;

	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71)
		return (0);
	for (i = 7; i < 71; i++) {
		if (strchr("0123456789abcdef", s[i]) == NULL)
			return (0);
	}
	return (1);
}

/* nftw callback removing one entry. */
static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) == -1)
		diag("remove %s: %s", path, strerror(errno));
	return (0);
}

/* Make every key the tests use with the openssl tool. */
static void
make_keys(void)
{
	static const char	*steps[][12] = {
		{ "genrsa", "-out", "k.key", "1024", NULL },
		{ "rsa", "-in", "k.key", "-pubout", "-out", "k.pub", NULL },
		{ "rsa", "-in", "k.key", "-RSAPublicKey_out", "-out",
		    "k.rsapub", NULL },
		{ "genrsa", "-3", "-out", "k3.key", "1024", NULL },
		{ "rsa", "-in", "k3.key", "-pubout", "-out", "k3.pub", NULL },
		{ "genrsa", "-traditional", "-out", "kt.key", "1024", NULL },
		{ "rsa", "-in", "kt.key", "-pubout", "-out", "kt.pub", NULL },
		{ "genrsa", "-out", "k512.key", "512", NULL },
		{ "rsa", "-in", "k512.key", "-pubout", "-out", "k512.pub",
		    NULL },
		{ "genrsa", "-out", "k2048.key", "2048", NULL },
		{ "rsa", "-in", "k2048.key", "-pubout", "-out", "k2048.pub",
		    NULL },
		{ "rsa", "-in", "k2048.key", "-RSAPublicKey_out", "-out",
		    "k2048.rsapub", NULL },
		{ "genpkey", "-algorithm", "EC", "-pkeyopt",
		    "ec_paramgen_curve:P-256", "-out", "ec.key", NULL },
		{ "pkey", "-in", "ec.key", "-pubout", "-out", "ec.pub", NULL },
		{ "genpkey", "-algorithm", "RSA-PSS", "-pkeyopt",
		    "rsa_keygen_bits:1024", "-out", "pss.key", NULL },
		{ "pkey", "-in", "pss.key", "-pubout", "-out", "pss.pub",
		    NULL },
		{ "genrsa", "-aes128", "-passout", "pass:x", "-out", "enc.key",
		    "1024", NULL },
		{ "genrsa", "-traditional", "-aes128", "-passout", "pass:x",
		    "-out", "enct.key", "1024", NULL },
		{ "pkey", "-pubin", "-in", "k.pub", "-outform", "DER", "-out",
		    "k.der", NULL },
	};
	const char	*const *s;
	size_t		 i;

	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		s = steps[i];
		if (!openssl_ok(s[0], s[1], s[2], s[3], s[4], s[5], s[6],
		    s[7], s[8], s[9], s[10], (char *)NULL))
			bail("openssl %s %s %s %s failed (see %s/stderr.log)",
			    s[0], s[1], s[2], s[3], trash);
	}
	ok(run("k.sum", "sha256sum", "k.der", (char *)NULL) == 0,
	    "sha256sum of the DER SubjectPublicKeyInfo");
}

/* The hex SHA-256 helper against known vectors. */
static void
test_sha256(void)
{
	char	out[65];

	rsakey_sha256_hex("", 0, out);
	is_str(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
	    "7852b855", "sha256 of nothing");
	rsakey_sha256_hex("abc", 3, out);
	is_str(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61"
	    "f20015ad", "sha256 of abc");
}

/* Public keys Asterisk loads are accepted, with stable fingerprints. */
static void
test_pub_ok(void)
{
	struct rsakey_info	 a, b, c;
	char			*spki, *pkcs1, *sum, *ws, *crlf, *cause = NULL;
	char			 want[72];
	size_t			 slen, plen, sumlen, wslen, i, j;

	spki = slurp("k.pub", &slen);
	pkcs1 = slurp("k.rsapub", &plen);
	ok(strncmp(spki, "-----BEGIN PUBLIC KEY-----\n", 27) == 0,
	    "k.pub is SPKI");
	ok(strncmp(pkcs1, "-----BEGIN RSA PUBLIC KEY-----\n", 31) == 0,
	    "k.rsapub is PKCS#1");
	is_int(rsakey_pub_validate(spki, slen, RSAKEY_PEM_MAX, &a, &cause), 0,
	    "SPKI accepted");
	is_int(a.bits, 1024, "1024 bits");
	ok(fpr_sane(a.fingerprint), "fingerprint %s", a.fingerprint);
	ok(cause == NULL, "no cause: %s", cause ? cause : "");

	/* Asterisk's PEM_read_PUBKEY cannot load a PKCS#1 public key. */
	rejects(pkcs1, plen, "PKCS#1 \"RSA PUBLIC KEY\" block", "PKCS#1");

	/* Any odd exponent from 3 up is RSA as Asterisk uses it. */
	free(pkcs1);
	pkcs1 = slurp("k3.pub", &plen);
	is_int(rsakey_pub_validate(pkcs1, plen, RSAKEY_PEM_MAX, &b, &cause), 0,
	    "e = 3 accepted");
	ok(cause == NULL, "no cause: %s", cause ? cause : "");
	ok(strcmp(b.fingerprint, a.fingerprint) != 0, "another key");

	sum = slurp("k.sum", &sumlen);
	ok(sumlen >= 64, "sha256sum output");
	if (sumlen >= 64) {
		memcpy(want, "sha256:", 7);
		memcpy(want + 7, sum, 64);
		want[71] = '\0';
		is_str(a.fingerprint, want, "fingerprint equals openssl pkey "
		    "-pubin -outform DER | sha256sum");
	}
	free(sum);

	/* Whitespace around the block, CRLF, no final newline. */
	ws = xmalloc(slen + 16);
	memcpy(ws, "\n \t\r\n", 5);
	memcpy(ws + 5, spki, slen);
	memcpy(ws + 5 + slen, "\n\n  \n", 5);
	wslen = slen + 10;
	is_int(rsakey_pub_validate(ws, wslen, RSAKEY_PEM_MAX, &c, &cause), 0,
	    "whitespace around the block");
	is_str(c.fingerprint, a.fingerprint, "same fingerprint");
	is_int(rsakey_pub_validate(spki, slen - 1, RSAKEY_PEM_MAX, &c, &cause),
	    0, "no final newline");
	crlf = xmalloc(2 * slen + 1);
	for (i = j = 0; i < slen; i++) {
		if (spki[i] == '\n')
			crlf[j++] = '\r';
		crlf[j++] = spki[i];
	}
	is_int(rsakey_pub_validate(crlf, j, RSAKEY_PEM_MAX, &c, &cause), 0,
	    "CRLF line ends");
	is_str(c.fingerprint, a.fingerprint, "same fingerprint");
	is_int(rsakey_pub_validate(spki, slen, slen, NULL, &cause), 0,
	    "size exactly max, info NULL");
	ok(cause == NULL, "no cause: %s", cause ? cause : "");
	free(crlf);
	free(ws);
	free(spki);
	free(pkcs1);
}

/* Everything Asterisk would skip, and every malformed input. */
static void
test_pub_reject(void)
{
	static const char	 hdr[] = "-----BEGIN PUBLIC KEY-----\n";
	static const unsigned long bad_e[] = { 1, 2, 65536 };
	char			*spki, *buf, *other, *p, *der, *b64, what[32];
	char			*cause = NULL;
	size_t			 slen, len, olen, dlen, n;

	spki = slurp("k.pub", &slen);

	buf = slurp("k512.pub", &len);
	rejects(buf, len, "RSA key is 512 bits, Asterisk needs 1024", "512");
	free(buf);
	buf = slurp("k2048.pub", &len);
	rejects(buf, len, "RSA key is 2048 bits, Asterisk needs 1024", "2048");
	free(buf);
	buf = slurp("k2048.rsapub", &len);
	rejects(buf, len, "PKCS#1", "2048 PKCS#1");
	free(buf);

	/* Degenerate public exponents on a real 1024-bit modulus. */
	for (n = 0; n < sizeof bad_e / sizeof bad_e[0]; n++) {
		buf = pub_with_exponent(bad_e[n], &len);
		snprintf(what, sizeof what, "e = %lu", bad_e[n]);
		rejects(buf, len, "bad RSA public exponent", what);
		free(buf);
	}
	buf = pub_with_exponent(65537, &len);
	is_int(rsakey_pub_validate(buf, len, RSAKEY_PEM_MAX, NULL, &cause), 0,
	    "the same modulus with e = 65537 is accepted");
	free(cause);
	cause = NULL;
	free(buf);
	buf = slurp("ec.pub", &len);
	rejects(buf, len, "not an RSA key (EC)", "EC P-256");
	free(buf);
	buf = slurp("pss.pub", &len);
	rejects(buf, len, "not an RSA key (RSA-PSS)", "RSA-PSS");
	free(buf);
	buf = slurp("k.key", &len);
	rejects(buf, len, "private key (BEGIN PRIVATE KEY)", "PKCS#8 private");
	free(buf);
	buf = slurp("kt.key", &len);
	rejects(buf, len, "private key (BEGIN RSA PRIVATE KEY)",
	    "PKCS#1 private");
	free(buf);
	buf = slurp("enc.key", &len);
	rejects(buf, len, "private key (BEGIN ENCRYPTED PRIVATE KEY)",
	    "encrypted private");
	free(buf);

	/* A private key hidden after a public one. */
	other = slurp("kt.key", &olen);
	buf = concat(spki, slen, other, olen, &len);
	rejects(buf, len, "private key", "public then private");
	free(buf);
	free(other);
	other = slurp("kt.pub", &olen);
	buf = concat(spki, slen, other, olen, &len);
	rejects(buf, len, "2 PEM blocks, expected exactly one", "two blocks");
	free(buf);
	free(other);
	buf = concat(spki, slen, "junk\n", 5, &len);
	rejects(buf, len, "junk after the PEM block", "trailing junk");
	free(buf);
	buf = concat(spki, slen - 1, "x", 1, &len);
	rejects(buf, len, "junk after the PEM block", "one trailing byte");
	free(buf);
	buf = concat("# my key\n", 9, spki, slen, &len);
	rejects(buf, len, "junk before the PEM block", "leading junk");
	free(buf);
	rejects("", 0, "empty key", "empty");
	rejects(" \n\t\r\n", 5, "empty key", "whitespace only");
	rejects("hello, world\n", 13, "no PEM block", "garbage");
	p = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
	rejects(p, strlen(p), "unexpected PEM block \"CERTIFICATE\"",
	    "certificate");
	rejects("-----BEGIN PUBLIC KEY\n", 22, "malformed PEM BEGIN line",
	    "broken BEGIN line");
	rejects(spki, slen / 2, "truncated PEM block", "cut in half");

	/* Base64 body with a line missing: the END line is still there. */
	buf = xstrdup(spki);
	p = strchr(buf + sizeof hdr - 1, '\n') + 1;
	n = strchr(p, '\n') + 1 - p;
	memmove(p, p + n, strlen(p + n) + 1);
	len = slen - n;
	rejects(buf, len, "bad key data", "truncated base64");
	free(buf);
	buf = xstrdup(spki);
	buf[sizeof hdr + 9] = '*';
	rejects(buf, slen, "bad PEM encoding", "invalid base64 character");
	free(buf);
	buf = xstrdup(spki);
	buf[40] = '\0';
	rejects(buf, slen, "NUL byte", "NUL byte");
	free(buf);
	is_int(rsakey_pub_validate(spki, slen, slen - 1, NULL, &cause), -1,
	    "size over max");
	ok(cause != NULL && strstr(cause, "key too large") != NULL,
	    "cause: %s", cause ? cause : "(accepted)");
	free(cause);
	cause = NULL;

	/* Proc-Type headers have no place in a public key. */
	buf = xmalloc(slen + 64);
	memcpy(buf, hdr, sizeof hdr - 1);
	len = sizeof hdr - 1;
	memcpy(buf + len, "Comment: hello\n\n", 16);
	len += 16;
	memcpy(buf + len, spki + sizeof hdr - 1, slen - (sizeof hdr - 1));
	len += slen - (sizeof hdr - 1);
	rejects(buf, len, "PEM headers", "PEM headers");
	free(buf);

	/* Valid base64 of the DER plus two bytes. */
	der = slurp("k.der", &dlen);
	der = xrealloc(der, dlen + 2);
	der[dlen] = 0x05;
	der[dlen + 1] = 0x00;
	b64 = xmalloc(4 * ((dlen + 4) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)der,
	    (int)dlen + 2);
	xasprintf(&buf, "%s%s\n-----END PUBLIC KEY-----\n", hdr, b64);
	rejects(buf, strlen(buf), "bad key data (DER length)",
	    "trailing bytes inside the DER");
	free(buf);
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)der,
	    (int)dlen);
	xasprintf(&buf, "%s%s\n-----END PUBLIC KEY-----\n", hdr, b64);
	is_int(rsakey_pub_validate(buf, strlen(buf), RSAKEY_PEM_MAX, NULL,
	    &cause), 0, "the same DER in one long base64 line is fine");
	free(cause);
	free(buf);
	free(b64);
	free(der);
	free(spki);
}

/* The node's own private key: modes, formats, encryption, sizes. */
static void
test_priv(void)
{
	struct rsakey_info	 pub, priv;
	char			*k = tpath("k.key"), *kt = tpath("kt.key");
	char			*spki, *cause = NULL, *buf, *p;
	size_t			 slen, len;
	struct stat		 st;

	ok(stat(k, &st) == 0 && (st.st_mode & 07777) == 0600,
	    "openssl genrsa made a 0600 file");
	spki = slurp("k.pub", &slen);
	is_int(rsakey_pub_validate(spki, slen, RSAKEY_PEM_MAX, &pub, &cause),
	    0, "public half");
	free(spki);
	is_int(rsakey_priv_check(k, &priv, &cause), 0, "PKCS#8, mode 0600");
	ok(cause == NULL, "no cause: %s", cause ? cause : "");
	is_int(priv.bits, 1024, "1024 bits");
	is_str(priv.fingerprint, pub.fingerprint,
	    "fingerprint of the public half");
	ok1(chmod(k, 0400) == 0);
	is_int(rsakey_priv_check(k, NULL, &cause), 0, "mode 0400");
	ok1(chmod(k, 0644) == 0);
	priv_rejects("k.key", "mode 0644: Asterisk refuses private keys",
	    "mode 0644");
	ok1(chmod(k, 0640) == 0);
	priv_rejects("k.key", "mode 0640", "mode 0640");
	ok1(chmod(k, 0700) == 0);
	priv_rejects("k.key", "mode 0700", "mode 0700");
	ok1(chmod(k, 0600) == 0);

	ok1(chmod(kt, 0600) == 0);
	buf = slurp("kt.key", &len);
	ok(strncmp(buf, "-----BEGIN RSA PRIVATE KEY-----\n", 32) == 0,
	    "kt.key is PKCS#1");
	free(buf);
	is_int(rsakey_priv_check(kt, &priv, &cause), 0, "PKCS#1 accepted");
	ok(fpr_sane(priv.fingerprint), "fingerprint %s", priv.fingerprint);
	free(cause);
	cause = NULL;

	p = tpath("enc.key");
	ok1(chmod(p, 0600) == 0);
	free(p);
	priv_rejects("enc.key", "encrypted private key: Asterisk cannot load "
	    "it unattended", "encrypted PKCS#8");
	p = tpath("enct.key");
	ok1(chmod(p, 0600) == 0);
	free(p);
	buf = slurp("enct.key", &len);
	ok(strstr(buf, "Proc-Type: 4,ENCRYPTED") != NULL,
	    "enct.key is a traditional encrypted key");
	free(buf);
	priv_rejects("enct.key", "encrypted private key: Asterisk cannot load "
	    "it unattended", "encrypted PKCS#1");
	p = tpath("k2048.key");
	ok1(chmod(p, 0600) == 0);
	free(p);
	priv_rejects("k2048.key", "RSA key is 2048 bits, Asterisk needs 1024",
	    "2048 bits");
	p = tpath("k512.key");
	ok1(chmod(p, 0600) == 0);
	free(p);
	priv_rejects("k512.key", "RSA key is 512 bits", "512 bits");
	p = tpath("ec.key");
	ok1(chmod(p, 0600) == 0);
	free(p);
	priv_rejects("ec.key", "not an RSA key (EC)", "EC");
	p = tpath("k.pub");
	ok1(chmod(p, 0600) == 0);
	priv_rejects("k.pub", "not a private key (BEGIN PUBLIC KEY)",
	    "a public key");
	ok1(chmod(p, 0644) == 0);
	free(p);
	priv_rejects("absent.key", "No such file", "an absent file");
	p = tpath("dir.key");
	ok1(mkdir(p, 0700) == 0);
	free(p);
	priv_rejects("dir.key", "not a regular file", "a directory");

	/* Junk around the block, and an empty file. */
	buf = slurp("k.key", &len);
	p = tpath("junk.key");
	buf = xrealloc(buf, len + 6);
	memcpy(buf + len, "junk\n", 6);
	is_int(afile_write(p, buf, len + 5, 0600, &cause), 0, "setup");
	free(p);
	priv_rejects("junk.key", "junk after the PEM block", "trailing junk");
	p = tpath("empty.key");
	is_int(afile_write(p, "", 0, 0600, &cause), 0, "setup");
	free(p);
	priv_rejects("empty.key", "empty key file", "an empty file");
	p = tpath("nul.key");
	buf[10] = '\0';
	is_int(afile_write(p, buf, len, 0600, &cause), 0, "setup");
	free(p);
	priv_rejects("nul.key", "NUL byte", "a NUL byte");
	free(buf);
	free(k);
	free(kt);
}

/* Key generation: formats, modes, refusal to overwrite. */
static void
test_generate(void)
{
	struct rsakey_info	 pub, priv, pub2;
	char			*key = tpath("lib.key");
	char			*pubp = tpath("lib.pub");
	char			*key2 = tpath("lib2.key");
	char			*pub2p = tpath("lib2.pub");
	char			*nk = tpath("new.key"), *np = tpath("new.pub");
	char			*mk = tpath("nodir/x.key");
	char			*mp = tpath("nodir/x.pub");
	char			*cause = NULL, *buf, *sum;
	char			 want[72];
	size_t			 len, sumlen;
	struct stat		 st;

	is_int(rsakey_generate(key, pubp, &cause), 0, "generate");
	ok(cause == NULL, "no cause: %s", cause ? cause : "");
	ok(stat(key, &st) == 0 && (st.st_mode & 07777) == 0600, "key 0600");
	ok(stat(pubp, &st) == 0 && (st.st_mode & 07777) == 0644, "pub 0644");
	buf = slurp("lib.key", &len);
	ok(strncmp(buf, "-----BEGIN PRIVATE KEY-----\n", 28) == 0,
	    "private key is unencrypted PKCS#8");
	free(buf);
	buf = slurp("lib.pub", &len);
	ok(strncmp(buf, "-----BEGIN PUBLIC KEY-----\n", 27) == 0,
	    "public key is SPKI");
	is_int(rsakey_pub_validate(buf, len, RSAKEY_PEM_MAX, &pub, &cause), 0,
	    "generated public key is valid");
	free(buf);
	is_int(rsakey_priv_check(key, &priv, &cause), 0,
	    "generated private key passes priv_check");
	is_str(priv.fingerprint, pub.fingerprint, "matching fingerprints");
	ok(openssl_ok("rsa", "-in", "lib.key", "-check", "-noout",
	    (char *)NULL), "openssl rsa -check accepts the private key");
	ok(openssl_ok("pkey", "-pubin", "-in", "lib.pub", "-outform", "DER",
	    "-out", "lib.der", (char *)NULL), "openssl reads the public key");
	ok(run("lib.sum", "sha256sum", "lib.der", (char *)NULL) == 0,
	    "sha256sum");
	sum = slurp("lib.sum", &sumlen);
	if (sumlen >= 64) {
		memcpy(want, "sha256:", 7);
		memcpy(want + 7, sum, 64);
		want[71] = '\0';
	} else
		want[0] = '\0';
	is_str(pub.fingerprint, want, "fingerprint matches openssl's DER");
	free(sum);
	ok(openssl_ok("rsa", "-in", "lib.key", "-text", "-noout", (char *)NULL),
	    "openssl rsa -text");
	ok(run("lib.txt", "openssl", "rsa", "-in", "lib.key", "-text",
	    "-noout", (char *)NULL) == 0, "openssl rsa -text to a file");
	buf = slurp("lib.txt", &len);
	ok(strstr(buf, "Private-Key: (1024 bit") != NULL &&
	    strstr(buf, "publicExponent: 65537") != NULL,
	    "1024 bits, e = 65537");
	free(buf);

	is_int(rsakey_generate(key, np, &cause), -1, "existing key refused");
	ok(cause != NULL && strstr(cause, "exists") != NULL &&
	    strstr(cause, key) != NULL, "cause: %s", cause ? cause : "");
	ok(access(np, F_OK) == -1, "no public key written");
	free(cause);
	cause = NULL;
	is_int(rsakey_generate(nk, pubp, &cause), -1, "existing pub refused");
	ok(cause != NULL && strstr(cause, "exists") != NULL &&
	    strstr(cause, pubp) != NULL, "cause: %s", cause ? cause : "");
	ok(access(nk, F_OK) == -1, "no private key written");
	free(cause);
	cause = NULL;
	is_int(rsakey_priv_check(key, &pub2, &cause), 0, "old key untouched");
	is_str(pub2.fingerprint, priv.fingerprint, "same fingerprint");
	is_int(rsakey_generate(mk, mp, &cause), -1, "missing directory");
	ok(cause != NULL, "cause: %s", cause ? cause : "");
	free(cause);
	cause = NULL;

	/* The public key cannot be written: the private key goes too. */
	setenv("IAXKEYD_FAULT_WRITE", "enospc", 1);
	setenv("IAXKEYD_FAULT_PATH", "lib2.pub", 1);
	is_int(rsakey_generate(key2, pub2p, &cause), -1,
	    "public key write fails (ENOSPC)");
	ok(cause != NULL && strstr(cause, "No space") != NULL, "cause: %s",
	    cause ? cause : "");
	ok(access(key2, F_OK) == -1 && access(pub2p, F_OK) == -1,
	    "neither file is left");
	unsetenv("IAXKEYD_FAULT_WRITE");
	unsetenv("IAXKEYD_FAULT_PATH");
	free(cause);
	cause = NULL;
	is_int(rsakey_generate(key2, pub2p, &cause), 0, "second key pair");
	is_int(rsakey_priv_check(key2, &pub2, &cause), 0, "valid");
	ok(strcmp(pub2.fingerprint, priv.fingerprint) != 0,
	    "a different key");
	free(key);
	free(pubp);
	free(key2);
	free(pub2p);
	free(nk);
	free(np);
	free(mk);
	free(mp);
}

/* SHA-256 PKCS#1 v1.5 signatures, both ways with the openssl tool. */
static void
test_sign(void)
{
	char	*key = tpath("lib.key"), *k = tpath("k.key"), *m = tpath("msg");
	char	*pub, *rsapub, *kpub, *sig = NULL, *sig2 = NULL, *cause = NULL;
	char	*bin, *b64, *p;
	size_t	 plen, rlen, klen, blen;

	pub = slurp("lib.pub", &plen);
	kpub = slurp("k.pub", &klen);
	is_int(rsakey_sign(key, MSG, strlen(MSG), &sig, &cause), 0, "sign");
	ok(sig != NULL && strlen(sig) == 172 && strchr(sig, '\n') == NULL,
	    "172 base64 characters, no newline");
	is_int(rsakey_verify(pub, plen, MSG, strlen(MSG), sig, &cause), 0,
	    "verify");
	ok(cause == NULL, "no cause: %s", cause ? cause : "");
	ok(openssl_ok("rsa", "-in", "lib.key", "-RSAPublicKey_out", "-out",
	    "lib.rsapub", (char *)NULL), "PKCS#1 form of the public key");
	rsapub = slurp("lib.rsapub", &rlen);
	is_int(rsakey_verify(rsapub, rlen, MSG, strlen(MSG), sig, &cause), -1,
	    "no verification with a PKCS#1 public key (never accepted)");
	ok(cause != NULL && strstr(cause, "PKCS#1") != NULL, "cause: %s",
	    cause ? cause : "(verified)");
	free(cause);
	cause = NULL;
	is_int(rsakey_sign(key, MSG, strlen(MSG), &sig2, &cause), 0,
	    "sign again");
	is_str(sig2, sig, "PKCS#1 v1.5 signatures are deterministic");
	free(sig2);
	sig2 = NULL;

	is_int(rsakey_verify(pub, plen, "PUT /v1/keys/node-b\n1700000000\n",
	    strlen(MSG), sig, &cause), -1, "tampered message");
	ok(cause != NULL && strstr(cause, "does not verify") != NULL,
	    "cause: %s", cause ? cause : "");
	free(cause);
	cause = NULL;
	is_int(rsakey_verify(pub, plen, MSG, strlen(MSG) - 1, sig, &cause),
	    -1, "message one byte short");
	free(cause);
	cause = NULL;
	sig2 = xstrdup(sig);
	sig2[10] = sig2[10] == 'A' ? 'B' : 'A';
	is_int(rsakey_verify(pub, plen, MSG, strlen(MSG), sig2, &cause), -1,
	    "tampered signature");
	ok(cause != NULL && strstr(cause, "does not verify") != NULL,
	    "cause: %s", cause ? cause : "");
	free(cause);
	cause = NULL;
	sig2[168] = '\0';
	is_int(rsakey_verify(pub, plen, MSG, strlen(MSG), sig2, &cause), -1,
	    "truncated signature");
	ok(cause != NULL && strstr(cause, "signature is 126 bytes") != NULL,
	    "cause: %s", cause ? cause : "");
	free(cause);
	cause = NULL;
	free(sig2);
	is_int(rsakey_verify(pub, plen, MSG, strlen(MSG), "!!!!", &cause), -1,
	    "not base64");
	ok(cause != NULL && strstr(cause, "base64") != NULL, "cause: %s",
	    cause ? cause : "");
	free(cause);
	cause = NULL;
	is_int(rsakey_verify(pub, plen, MSG, strlen(MSG), "", &cause), -1,
	    "empty signature");
	free(cause);
	cause = NULL;
	is_int(rsakey_verify(kpub, klen, MSG, strlen(MSG), sig, &cause), -1,
	    "another key's public key");
	free(cause);
	cause = NULL;
	is_int(rsakey_verify("junk", 4, MSG, strlen(MSG), sig, &cause), -1,
	    "invalid public key");
	ok(cause != NULL && strstr(cause, "no PEM block") != NULL,
	    "cause: %s", cause ? cause : "");
	free(cause);
	cause = NULL;

	is_int(rsakey_sign(key, "", 0, &sig2, &cause), 0, "sign nothing");
	is_int(rsakey_verify(pub, plen, "", 0, sig2, &cause), 0,
	    "verify nothing");
	free(sig2);
	sig2 = NULL;
	ok1(chmod(key, 0644) == 0);
	is_int(rsakey_sign(key, MSG, strlen(MSG), &sig2, &cause), -1,
	    "sign with a 0644 key refused");
	ok(sig2 == NULL && cause != NULL && strstr(cause, "mode 0644") !=
	    NULL, "cause: %s", cause ? cause : "");
	free(cause);
	cause = NULL;
	ok1(chmod(key, 0600) == 0);
	p = tpath("enc.key");
	is_int(rsakey_sign(p, MSG, strlen(MSG), &sig2, &cause), -1,
	    "sign with an encrypted key refused");
	free(p);
	free(cause);
	cause = NULL;

	/* openssl verifies ours, we verify openssl's. */
	is_int(afile_write(m, MSG, strlen(MSG), 0644, &cause), 0, "msg file");
	p = tpath("sig.b64");
	is_int(afile_write(p, sig, strlen(sig), 0644, &cause), 0, "sig file");
	free(p);
	ok(openssl_ok("base64", "-d", "-A", "-in", "sig.b64", "-out",
	    "sig.bin", (char *)NULL), "openssl base64 -d");
	ok(openssl_ok("dgst", "-sha256", "-verify", "lib.pub", "-signature",
	    "sig.bin", "msg", (char *)NULL),
	    "openssl dgst -sha256 -verify accepts our signature");
	ok(openssl_ok("dgst", "-sha256", "-sign", "k.key", "-out", "ksig.bin",
	    "msg", (char *)NULL), "openssl dgst -sha256 -sign");
	bin = slurp("ksig.bin", &blen);
	b64 = xmalloc(4 * ((blen + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)bin, (int)blen);
	is_int(rsakey_verify(kpub, klen, MSG, strlen(MSG), b64, &cause), 0,
	    "we verify openssl's signature");
	ok(cause == NULL, "no cause: %s", cause ? cause : "");
	is_int(rsakey_sign(k, MSG, strlen(MSG), &sig2, &cause), 0,
	    "sign with the openssl-made key");
	is_str(sig2, b64, "same signature as openssl dgst -sha256 -sign");
	ok(ERR_peek_error() == 0, "OpenSSL error queue empty");
	free(sig2);
	free(b64);
	free(bin);
	free(rsapub);
	free(sig);
	free(pub);
	free(kpub);
	free(key);
	free(k);
	free(m);
}

int
main(void)
{
	plan_no_plan();
	if (mkdtemp(trash) == NULL)
		bail("mkdtemp %s: %s", trash, strerror(errno));
	make_keys();
	test_sha256();
	test_pub_ok();
	test_pub_reject();
	test_priv();
	test_generate();
	test_sign();
	if (exit_status() == 0)
		nftw(trash, rm_one, 16, FTW_DEPTH|FTW_PHYS);
	else
		diag("kept %s", trash);
	return (exit_status());
}
