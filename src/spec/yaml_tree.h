/*
 * yaml_tree.h - YAML text -> a tree of nodes that remember where they were
 * written (line:col), for the spec loader. Internal to src/spec.
 *
 * The tree is built from libyaml's event API, so nothing is ever expanded
 * by copying: an alias is a second pointer to the anchored node, and every
 * node lives in one arena owned by the ytree. That makes a "billion laughs"
 * file cheap to refuse: the builder counts the nodes an expansion *would*
 * visit and stops at YTREE_MAX_NODES, and refuses nesting (including nesting
 * reached through aliases) deeper than YTREE_MAX_DEPTH. Any walk of a built
 * tree therefore visits at most YTREE_MAX_NODES nodes and recurses at most
 * YTREE_MAX_DEPTH levels.
 *
 * Plain scalars are resolved as PyYAML (YAML 1.1, what W&B reads its sweep
 * files with) resolves them, with one deliberate widening: exponent floats
 * without a dot or without an exponent sign (1e-3, 1E5) are numbers here,
 * as W&B documents them, where PyYAML would keep them as strings.
 *   null:  ~ null Null NULL and the empty scalar
 *   bool:  true/false yes/no on/off in lower, Capitalised or UPPER case
 *   int:   [-+]?[0-9][0-9_]* (a leading 0 means octal, as in YAML 1.1),
 *          0x.. hex, 0b.. binary, and base-60 (1:30 = 90); past int64 is an error
 *   real:  1.5 .5 1. -1E+2 1e-3, base-60 with a fraction, .inf -.inf .nan
 * Quoted and block scalars are always strings. The tags !!str !!int !!float
 * !!bool !!null force a type; other tags are refused.
 *
 * Merge keys (<<: *base, or <<: [*a, *b]) are resolved as PyYAML does:
 * merged keys come first, keys written in the mapping override them, and an
 * earlier mapping in a merge list wins over a later one. Keys written twice
 * in one mapping are kept (the loader reports them).
 */
#ifndef SQ_YAML_TREE_H
#define SQ_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YTREE_MAX_NODES 100000
#define YTREE_MAX_DEPTH 64

typedef enum { YTREE_SCALAR, YTREE_SEQ, YTREE_MAP } ytree_kind;

typedef enum { YTREE_NULL, YTREE_BOOL, YTREE_INT, YTREE_REAL, YTREE_STR } ytree_type;

typedef struct ytree_node {
    ytree_kind kind;
    int line, col; /* 1-based start of the node */

    /* Scalars: the text as written (NUL-terminated; len excludes the NUL)
     * and its resolved type and value. err is set (and type is YTREE_STR)
     * when the scalar cannot be resolved: an integer past 64 bits, a
     * string holding a NUL character, a tag that does not fit. */
    char *text;
    size_t len;
    ytree_type type;
    bool boolean;
    int64_t integer;
    double real;
    char *err;

    /* Sequences: items[0..n). Mappings: items[2i] is a key and
     * items[2i+1] its value. Children may be shared (aliases). */
    struct ytree_node **items;
    size_t n, cap;

    size_t weight; /* nodes in the expanded subtree, this one included */
    int height;    /* levels in the expanded subtree; a scalar is 1 */
    bool open;     /* a collection still being built (for recursive aliases) */
} ytree_node;

typedef struct ytree {
    ytree_node *root;   /* NULL when the text holds no document */
    ytree_node **nodes; /* the arena: every node, freed together */
    size_t nnodes, cap;
} ytree;

#define YTREE_INIT                                                                                 \
    {                                                                                              \
        NULL, NULL, 0, 0                                                                           \
    }

/*
 * Parses text[0..len) (which the caller has checked is UTF-8) into *t.
 * Returns 0, or SQ_EINVAL with *err_msg (caller frees) and the 1-based
 * *err_line / *err_col of the problem (0 when unknown). On error the tree
 * may hold partial results; release it either way with ytree_release.
 */
int ytree_parse(ytree *t, const char *text, size_t len, char **err_msg, int *err_line,
                int *err_col);
void ytree_release(ytree *t);

/* The number of key/value pairs of a mapping (n / 2). */
static inline size_t ytree_map_size(const ytree_node *n)
{
    return n->n / 2;
}

/* A word for a node's type in messages: "a string", "a number", "a list"... */
const char *ytree_describe(const ytree_node *n);

#endif
