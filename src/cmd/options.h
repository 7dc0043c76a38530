/*
 * options.h - the command-line option tables of the verbs.
 *
 * Each verb declares one table of sq_option; the same table parses argv and
 * prints `--help` (convention 12), so the help can never fall out of step.
 * Options may appear anywhere among the operands; "--" ends them.
 */
#ifndef SQ_OPTIONS_H
#define SQ_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    OPT_END = 0,
    OPT_BOOL,     /* bool *: set to true */
    OPT_STRING,   /* const char **: the argument, borrowed from argv */
    OPT_INT,      /* int *: a decimal integer */
    OPT_LIST,     /* sq_strlist *: the option may repeat; values accumulate */
    OPT_SIZE,     /* uint64_t *: bytes, units_parse_size */
    OPT_DURATION, /* double *: seconds, units_parse_duration */
    OPT_COUNT,    /* int *: incremented each time */
} opt_type;

typedef struct sq_strlist {
    const char **items; /* borrowed from argv */
    int n;
} sq_strlist;

typedef struct sq_option {
    opt_type type;
    char short_name;       /* 0 for none */
    const char *long_name; /* without the dashes */
    const char *arg_name;  /* "N", "FILE", ... for options that take one */
    const char *help;
    void *value;
} sq_option;

#define OPT_BOOL(s, l, v, h)                                                                       \
    {                                                                                              \
        OPT_BOOL, (s), (l), NULL, (h), (v)                                                         \
    }
#define OPT_STRING(s, l, v, a, h)                                                                  \
    {                                                                                              \
        OPT_STRING, (s), (l), (a), (h), (v)                                                        \
    }
#define OPT_INT(s, l, v, a, h)                                                                     \
    {                                                                                              \
        OPT_INT, (s), (l), (a), (h), (v)                                                           \
    }
#define OPT_LIST(s, l, v, a, h)                                                                    \
    {                                                                                              \
        OPT_LIST, (s), (l), (a), (h), (v)                                                          \
    }
#define OPT_SIZE(s, l, v, a, h)                                                                    \
    {                                                                                              \
        OPT_SIZE, (s), (l), (a), (h), (v)                                                          \
    }
#define OPT_DURATION(s, l, v, a, h)                                                                \
    {                                                                                              \
        OPT_DURATION, (s), (l), (a), (h), (v)                                                      \
    }
#define OPT_COUNT(s, l, v, h)                                                                      \
    {                                                                                              \
        OPT_COUNT, (s), (l), NULL, (h), (v)                                                        \
    }
#define OPT_END()                                                                                  \
    {                                                                                              \
        OPT_END, 0, NULL, NULL, NULL, NULL                                                         \
    }

/* What every verb accepts; filled by options_parse. */
typedef struct sq_globals {
    const char *store_url;  /* --store, else $SWEEPQ_STORE, else NULL */
    const char *token_file; /* --token-file (also exported as $SWEEPQ_TOKEN_FILE), or NULL */
    bool json;              /* --json, where the verb reads */
} sq_globals;

typedef struct sq_usage {
    const char *name;     /* "create" */
    const char *synopsis; /* "[options] FILE" */
    const char *summary;  /* one line */
    const char *details;  /* paragraphs after the options, or NULL */
    bool reads;           /* accepts --json */
} sq_usage;

enum { OPTIONS_HELP_SHOWN = 1 };

/*
 * Parses argv[1..argc) against opts (plus --store, --token-file, -h/--help and, when
 * usage->reads, --json). Operands are left in argv[0..*out_nargs) in order.
 * Returns 0, OPTIONS_HELP_SHOWN after printing --help to stdout, or
 * EXIT_USAGE after printing the error and a hint to stderr.
 */
int options_parse(int argc, char **argv, const sq_usage *usage, const sq_option *opts,
                  sq_globals *g, int *out_nargs);

/* Prints the verb's full help (synopsis, summary, options, details) to f. */
void options_print_help(FILE *f, const sq_usage *usage, const sq_option *opts);

/*
 * A verb's usage and option table, as captured from its options_parse call:
 * how the man pages and the shell completions are made from the very tables
 * that parse argv and print --help. opts is a copy (its value pointers point
 * into the verb's finished stack frame: never follow them), nopts entries
 * before an OPT_END one.
 */
typedef struct sq_verb_doc {
    sq_usage usage;
    sq_option *opts;
    size_t nopts;
} sq_verb_doc;

/*
 * Runs fn(2, {verb, "--help"}) so that its options_parse fills *doc instead
 * of printing the help. Returns 0, or -1 (doc untouched) when fn never
 * reached options_parse. Free with options_doc_release.
 */
int options_capture(int (*fn)(int, char **), const char *verb, sq_verb_doc *doc);
void options_doc_release(sq_verb_doc *doc);

/* Whether option o takes an argument (not a flag or a counter). */
bool options_takes_arg(const sq_option *o);

/* Prints "error: msg" and "usage: sweepq VERB SYNOPSIS" to stderr; returns EXIT_USAGE. */
int options_usage_error(const sq_usage *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
