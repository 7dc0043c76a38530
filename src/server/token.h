/*
 * token.h - the bearer tokens of `sweepq serve`: made, stored, compared.
 *
 * A token is 64 hex characters (32 random bytes from getrandom) kept in a
 * file of mode 0600 (.sweepq/server.token for writes, .sweepq/server.read-token
 * for reads). A token given by the user in a file may be any run of 1 to
 * TOKEN_MAX printable, non-space ASCII characters.
 *
 * The server keeps only the SHA-256 of each token and compares the digest
 * of what a client sends with memeql_sec, so the time a comparison takes
 * tells nothing about how much of a guess was right, nor about its length.
 */
#ifndef SQ_SERVER_TOKEN_H
#define SQ_SERVER_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_MAX 1024
#define TOKEN_DIGEST 32 /* SHA-256 */

typedef struct token_digest {
    unsigned char d[TOKEN_DIGEST];
} token_digest;

/*
 * Reads the token in path. With create=true and no such file, makes a new
 * random one there (mode 0600, O_EXCL, so two servers starting at once agree
 * on one) and sets *created. *out (caller frees) is the token text.
 * SQ_ENOTFOUND: no file and create=false; SQ_EINVAL: not a token; SQ_EIO.
 */
int token_load(char **out, const char *path, bool create, bool *created);

/* The digest of the len bytes of text. */
void token_hash(token_digest *out, const char *text, size_t len);

/* Compares two digests in constant time. */
bool token_equal(const token_digest *a, const token_digest *b);

#endif
