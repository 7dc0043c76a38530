/*
 * manpage.c - `sweepq help --man [VERB]`: sweepq(1) and sweepq-VERB(1) in
 * roff (man(7) macros), made from main.c's verb and exit-code tables and each
 * verb's own option table (options_capture), so the pages say what --help
 * says and cannot drift from it. The build writes them into man/ (scripts/
 * gen-install-files) and `make install` installs them.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/options.h"

#include <ctype.h>

#ifndef SQ_DATE
#define SQ_DATE "2026-01-01"
#endif

/* Writes text with roff's special characters escaped: backslashes, dashes
 * (so options are not hyphens) and, at the start of a line, '.' and '\''. */
static void roff_text(FILE *f, const char *s, size_t len)
{
    bool bol = true;
    for (size_t i = 0; i < len && s[i]; i++) {
        char c = s[i];
        if (bol && (c == '.' || c == '\''))
            fputs("\\&", f);
        if (c == '\\')
            fputs("\\e", f);
        else if (c == '-')
            fputs("\\-", f);
        else
            fputc(c, f);
        bol = c == '\n';
    }
}

static void roff(FILE *f, const char *s)
{
    roff_text(f, s, strlen(s));
}

/* A paragraph that is indented (an example, a table) keeps its lines. */
static bool preformatted(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((i == 0 || p[i - 1] == '\n') && p[i] == ' ')
            return true;
    return false;
}

/* --help's details: paragraphs split at blank lines; a paragraph with an
 * indented line stays as written (.nf), the others are filled. */
static void roff_details(FILE *f, const char *text)
{
    const char *p = text;
    while (*p) {
        while (*p == '\n')
            p++;
        if (!*p)
            break;
        const char *end = strstr(p, "\n\n");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && p[len - 1] == '\n')
            len--;
        bool nf = preformatted(p, len);
        fputs(nf ? ".PP\n.nf\n" : ".PP\n", f);
        roff_text(f, p, len);
        fputs(nf ? "\n.fi\n" : "\n", f);
        p += len;
    }
}

static void page_header(FILE *f, const char *title, const char *name, const char *summary)
{
    fputs(".TH ", f);
    for (const char *c = title; *c; c++)
        fputc(toupper((unsigned char)*c), f);
    fprintf(f, " 1 %s \"sweepq %s\" \"sweepq Manual\"\n.SH NAME\n", SQ_DATE, SQ_VERSION);
    roff(f, name);
    fputs(" \\- ", f);
    roff(f, summary);
    fputs("\n", f);
}

static void option_item(FILE *f, char s, const char *l, const char *arg, const char *help)
{
    fputs(".TP\n", f);
    if (s)
        fprintf(f, "\\fB\\-%c\\fR%s", s, l ? ", " : "");
    if (l) {
        fputs("\\fB\\-\\-", f);
        roff(f, l);
        fputs("\\fR", f);
    }
    if (arg) {
        fputs(" \\fI", f);
        roff(f, arg);
        fputs("\\fR", f);
    }
    fputs("\n", f);
    roff(f, help);
    fputs("\n", f);
}

static void verb_options(FILE *f, const sq_verb_doc *d)
{
    fputs(".SH OPTIONS\n", f);
    for (size_t i = 0; i < d->nopts; i++) {
        const sq_option *o = &d->opts[i];
        option_item(f, o->short_name, o->long_name, options_takes_arg(o) ? o->arg_name : NULL,
                    o->help);
    }
    /* The options every verb takes, as options_print_help lists them. */
    if (d->usage.reads)
        option_item(f, 0, "json", NULL, "print machine-readable JSON");
    option_item(f, 0, "store", "URL",
                "sqlite:PATH, postgresql://... or http(s)://...; default $SWEEPQ_STORE, else "
                ".sweepq/");
    option_item(f, 0, "token-file", "FILE",
                "an http(s) store's token, unless $SWEEPQ_TOKEN; default .sweepq/server.token");
    option_item(f, 'h', "help", NULL, "show this help");
}

static int verb_page(FILE *f, const sq_command *c)
{
    sq_verb_doc d;
    if (options_capture(c->fn, c->name, &d))
        SQ_BUG("verb '%s' printed its help without its option table", c->name);
    char title[80];
    snprintf(title, sizeof title, "sweepq-%s", c->name);
    page_header(f, title, title, c->summary);
    fputs(".SH SYNOPSIS\n.B sweepq ", f);
    roff(f, d.usage.name);
    fputs("\n", f);
    roff(f, d.usage.synopsis);
    fputs("\n.SH DESCRIPTION\n", f);
    fputc(toupper((unsigned char)d.usage.summary[0]), f);
    roff(f, d.usage.summary + 1);
    fputs(".\n", f);
    if (d.usage.details)
        roff_details(f, d.usage.details);
    verb_options(f, &d);
    fputs(".SH SEE ALSO\n.BR sweepq (1)\n", f);
    options_doc_release(&d);
    return EXIT_OK;
}

static void main_page(FILE *f)
{
    page_header(f, "sweepq", "sweepq", "run hyperparameter sweeps, resumably, on every machine");
    fputs(".SH SYNOPSIS\n.B sweepq\n[\\-\\-version] [help] \\fIVERB\\fR [options] [args]\n"
          ".SH DESCRIPTION\n"
          "sweepq runs hyperparameter sweeps on every GPU and machine you have,\n"
          "without losing or doubling a trial. It expands a sweep spec (a W&B\n"
          "sweep.yaml runs unchanged) into trials and runs each, resumably.\n"
          ".PP\n"
          "Every verb takes \\-\\-help and \\-\\-store \\fIURL\\fR; verbs that read take\n"
          "\\-\\-json. The store is \\-\\-store \\fIURL\\fR, else $SWEEPQ_STORE, else .sweepq/\n"
          "found by walking up from the current directory.\n"
          ".SH COMMANDS\n",
          f);
    size_t n;
    const sq_command *cmds = cmd_table(&n);
    for (size_t i = 0; i < n; i++) {
        fputs(".TP\n.BR sweepq\\-", f);
        roff(f, cmds[i].name);
        fputs(" (1)\n", f);
        roff(f, cmds[i].summary);
        fputs("\n", f);
    }
    fputs(".SH ENVIRONMENT\n"
          ".TP\n.B SWEEPQ_STORE\nthe store to use when \\-\\-store is not given\n"
          ".TP\n.B SWEEPQ_TOKEN\nan http(s) store's token\n"
          ".TP\n.B SWEEPQ_TOKEN_FILE\nthe file holding an http(s) store's token\n"
          ".SH EXIT STATUS\n",
          f);
    const sq_exit_doc *codes = cmd_exit_codes(&n);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, ".TP\n.B %d\n", codes[i].code);
        roff(f, codes[i].meaning);
        fputs("\n", f);
    }
    fputs(".SH FILES\n.TP\n.I .sweepq/\n"
          "the project's store (sweepq.db), server tokens and remotes (config.yaml)\n"
          ".SH SEE ALSO\n",
          f);
    n = 0;
    cmd_table(&n);
    for (size_t i = 0; i < n; i++)
        fprintf(f, ".BR sweepq\\-%s (1)%s\n", cmds[i].name, i + 1 < n ? "," : "");
}

int manpage_print(FILE *f, const char *verb)
{
    if (!verb) {
        main_page(f);
        return EXIT_OK;
    }
    const sq_command *c = cmd_find(verb);
    if (!c) {
        fprintf(stderr, "sweepq: no verb '%s' to write a man page for; 'sweepq help' lists them\n",
                verb);
        return EXIT_USAGE;
    }
    return verb_page(f, c);
}
