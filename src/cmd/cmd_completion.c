/*
 * cmd_completion.c - `sweepq completion bash|zsh|fish` prints a completion
 * script made from main.c's verb table and every verb's option table
 * (options_capture), so it completes exactly the verbs and options that
 * parse; `sweepq completion --list sweeps|tags` prints the store's sweep
 * names or tags, one a line, which the scripts call (as git's completion
 * asks git for its branches).
 *
 * What an option's argument or a verb's operands complete to is read off
 * the tables: --sweep NAME and SWEEP operands to sweep names, --tag to tags,
 * FILE and PATH arguments to files, DIR to directories, a synopsis like
 * "add|list|..." to those words; anything else to nothing.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "cmd/open_store.h"
#include "cmd/options.h"

static const sq_usage usage = {
    "completion",
    "[options] bash|zsh|fish",
    "print the shell completion script for bash, zsh or fish",
    "Completes verbs, options, files, and the store's sweep names and tags. Made\n"
    "from the same tables as --help. `make install` installs all three; to load\n"
    "one by hand:\n"
    "\n"
    "  bash: source <(sweepq completion bash)        (in ~/.bashrc)\n"
    "  zsh:  sweepq completion zsh >~/.zfunc/_sweepq  (with fpath+=~/.zfunc)\n"
    "  fish: sweepq completion fish >~/.config/fish/completions/sweepq.fish\n"
    "\n"
    "--list sweeps or --list tags prints the store's sweep names or tags, one a\n"
    "line: what the scripts call to complete them.",
    false,
};

/* What a word completes to. */
typedef enum { K_NONE, K_SWEEPS, K_TAGS, K_FILES, K_DIRS, K_WORDS } arg_kind;

static const char *const kind_names[] = {"none", "sweeps", "tags", "files", "dirs", "words"};

static arg_kind option_kind(const sq_option *o)
{
    if (!options_takes_arg(o))
        return K_NONE;
    if (o->long_name && !strcmp(o->long_name, "sweep"))
        return K_SWEEPS;
    if (o->long_name && !strcmp(o->long_name, "tag"))
        return K_TAGS;
    if (o->arg_name && (!strcmp(o->arg_name, "FILE") || !strcmp(o->arg_name, "PATH")))
        return K_FILES;
    if (o->arg_name && !strcmp(o->arg_name, "DIR"))
        return K_DIRS;
    return K_NONE;
}

/* The first word of the synopsis that is not an option names the operands;
 * *words gets an "a|b|c" alternative's words, space-separated. */
static arg_kind operand_kind(const sq_usage *u, strbuf *words)
{
    const char *s = u->synopsis;
    while (*s) {
        while (*s == ' ')
            s++;
        size_t n = strcspn(s, " ");
        if (n && s[0] != '[' && s[0] != '-') {
            if (memchr(s, '|', n)) {
                for (size_t i = 0; i < n; i++)
                    sb_addf(words, "%c", s[i] == '|' ? ' ' : s[i]);
                return K_WORDS;
            }
            if (!strncmp(s, "SWEEP", 5))
                return K_SWEEPS;
            if (!strncmp(s, "FILE", 4))
                return K_FILES;
        } else if (!strncmp(s, "[SWEEP", 6)) {
            return K_SWEEPS;
        }
        s += n;
    }
    return K_NONE;
}

/* Every verb's table, captured once; NULL name entries are verbs that
 * printed no table (none today). */
typedef struct verb_docs {
    const sq_command *cmds;
    sq_verb_doc *docs;
    size_t n;
} verb_docs;

static void docs_load(verb_docs *v)
{
    v->cmds = cmd_table(&v->n);
    v->docs = xcalloc(v->n, sizeof *v->docs);
    for (size_t i = 0; i < v->n; i++)
        if (options_capture(v->cmds[i].fn, v->cmds[i].name, &v->docs[i]))
            SQ_BUG("verb '%s' printed its help without its option table", v->cmds[i].name);
}

static void docs_release(verb_docs *v)
{
    for (size_t i = 0; i < v->n; i++)
        options_doc_release(&v->docs[i]);
    free(v->docs);
}

/* Writes s single-quoted for sh, zsh or fish ('\'' inside for sh and zsh;
 * fish takes \' and \\). */
static void quoted(FILE *f, const char *s, bool fish)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs(fish ? "\\'" : "'\\''", f);
        else if (fish && *s == '\\')
            fputs("\\\\", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* ------------------------------------------------------------------ bash */

static void bash_verb(FILE *f, const sq_verb_doc *d)
{
    fprintf(f, "    %s)\n        opts='", d->usage.name);
    for (size_t i = 0; i < d->nopts; i++) {
        const sq_option *o = &d->opts[i];
        if (o->long_name)
            fprintf(f, "--%s ", o->long_name);
        if (o->short_name)
            fprintf(f, "-%c ", o->short_name);
    }
    fprintf(f, "%s--store --token-file --help'\n        case $prev in\n",
            d->usage.reads ? "--json " : "");
    for (size_t i = 0; i < d->nopts; i++) {
        const sq_option *o = &d->opts[i];
        if (!options_takes_arg(o))
            continue;
        fputs("        ", f);
        if (o->long_name)
            fprintf(f, "--%s%s", o->long_name, o->short_name ? "|" : "");
        if (o->short_name)
            fprintf(f, "-%c", o->short_name);
        fprintf(f, ") what=%s ;;\n", kind_names[option_kind(o)]);
    }
    strbuf words = SB_INIT;
    arg_kind k = operand_kind(&d->usage, &words);
    fprintf(f, "        esac\n        operands=%s\n        words='%s'\n        ;;\n", kind_names[k],
            words.len ? sb_str(&words) : "");
    sb_release(&words);
}

static void print_bash(FILE *f, const verb_docs *v)
{
    fputs("# bash completion for sweepq; generated by `sweepq completion bash`.\n"
          "_sweepq_list() {\n"
          "    \"${COMP_WORDS[0]}\" completion --list \"$1\" \"${_sweepq_store[@]}\" 2>/dev/null\n"
          "}\n"
          "_sweepq() {\n"
          "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
          "    local verb=${COMP_WORDS[1]} opts= what= operands=none words= i\n"
          "    local -a _sweepq_store=()\n"
          "    COMPREPLY=()\n"
          "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
          "        COMPREPLY=($(compgen -W '",
          f);
    for (size_t i = 0; i < v->n; i++)
        fprintf(f, "%s ", v->cmds[i].name);
    fputs("help --version' -- \"$cur\"))\n"
          "        return\n"
          "    fi\n"
          "    for ((i = 2; i < COMP_CWORD; i++)); do\n"
          "        case ${COMP_WORDS[i]} in\n"
          "        --store) _sweepq_store=(--store \"${COMP_WORDS[i+1]}\") ;;\n"
          "        --store=*) _sweepq_store=(\"${COMP_WORDS[i]}\") ;;\n"
          "        esac\n"
          "    done\n"
          "    case $prev in\n"
          "    --store) return ;;\n"
          "    --token-file) what=files ;;\n"
          "    esac\n"
          "    case $verb in\n"
          "    help)\n"
          "        operands=words\n        words='",
          f);
    for (size_t i = 0; i < v->n; i++)
        fprintf(f, "%s ", v->cmds[i].name);
    fputs("'\n        ;;\n", f);
    for (size_t i = 0; i < v->n; i++)
        bash_verb(f, &v->docs[i]);
    fputs("    *) return ;;\n"
          "    esac\n"
          "    if [ -z \"$what\" ] && [[ $cur == -* ]]; then\n"
          "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
          "        return\n"
          "    fi\n"
          "    case ${what:-$operands} in\n"
          "    sweeps | tags) COMPREPLY=($(compgen -W \"$(_sweepq_list \"${what:-$operands}\")\" "
          "-- \"$cur\")) ;;\n"
          "    files) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
          "    dirs) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- \"$cur\")) ;;\n"
          "    words) COMPREPLY=($(compgen -W \"$words\" -- \"$cur\")) ;;\n"
          "    esac\n"
          "}\n"
          "complete -F _sweepq sweepq\n",
          f);
}

/* ------------------------------------------------------------------- zsh */

static void zsh_item(FILE *f, const char *name, const char *help)
{
    strbuf s = SB_INIT;
    for (const char *c = name; *c; c++)
        sb_addf(&s, c[0] == ':' ? "\\%c" : "%c", *c);
    sb_addf(&s, ":%s", help);
    fputs("    ", f);
    quoted(f, sb_str(&s), false);
    fputs("\n", f);
    sb_release(&s);
}

static void zsh_verb(FILE *f, const sq_verb_doc *d)
{
    fprintf(f, "  %s)\n    opts=(\n", d->usage.name);
    char name[80];
    for (size_t i = 0; i < d->nopts; i++) {
        const sq_option *o = &d->opts[i];
        if (o->long_name) {
            snprintf(name, sizeof name, "--%s", o->long_name);
            zsh_item(f, name, o->help);
        }
        if (o->short_name) {
            snprintf(name, sizeof name, "-%c", o->short_name);
            zsh_item(f, name, o->help);
        }
    }
    if (d->usage.reads)
        zsh_item(f, "--json", "print machine-readable JSON");
    zsh_item(f, "--store", "the store's URL");
    zsh_item(f, "--token-file", "an http(s) store's token file");
    zsh_item(f, "--help", "show this help");
    fputs("    )\n    case $prev in\n", f);
    for (size_t i = 0; i < d->nopts; i++) {
        const sq_option *o = &d->opts[i];
        if (!options_takes_arg(o))
            continue;
        fputs("    ", f);
        if (o->long_name)
            fprintf(f, "--%s%s", o->long_name, o->short_name ? "|" : "");
        if (o->short_name)
            fprintf(f, "-%c", o->short_name);
        fprintf(f, ") what=%s ;;\n", kind_names[option_kind(o)]);
    }
    strbuf words = SB_INIT;
    arg_kind k = operand_kind(&d->usage, &words);
    fprintf(f, "    esac\n    operands=%s\n    alts=(%s)\n    ;;\n", kind_names[k],
            words.len ? sb_str(&words) : "");
    sb_release(&words);
}

static void print_zsh(FILE *f, const verb_docs *v)
{
    fputs("#compdef sweepq\n"
          "# zsh completion for sweepq; generated by `sweepq completion zsh`.\n"
          "_sweepq() {\n"
          "  local verb=${words[2]} cur=${words[CURRENT]} prev=${words[CURRENT-1]}\n"
          "  local what= operands=none i\n"
          "  local -a verbs opts alts store\n"
          "  verbs=(\n",
          f);
    for (size_t i = 0; i < v->n; i++)
        zsh_item(f, v->cmds[i].name, v->cmds[i].summary);
    zsh_item(f, "help", "show the help of sweepq or of a verb");
    fputs("  )\n"
          "  if (( CURRENT == 2 )); then\n"
          "    _describe -t verbs 'sweepq verb' verbs\n"
          "    return\n"
          "  fi\n"
          "  for (( i = 3; i < CURRENT; i++ )); do\n"
          "    case ${words[i]} in\n"
          "    --store) store=(--store ${words[i+1]}) ;;\n"
          "    --store=*) store=(${words[i]}) ;;\n"
          "    esac\n"
          "  done\n"
          "  case $prev in\n"
          "  --store) return ;;\n"
          "  --token-file) what=files ;;\n"
          "  esac\n"
          "  case $verb in\n"
          "  help) operands=words; alts=(${verbs%%:*}) ;;\n",
          f);
    for (size_t i = 0; i < v->n; i++)
        zsh_verb(f, &v->docs[i]);
    fputs("  *) return ;;\n"
          "  esac\n"
          "  if [[ -z $what && $cur == -* ]]; then\n"
          "    _describe -t options 'option' opts\n"
          "    return\n"
          "  fi\n"
          "  case ${what:-$operands} in\n"
          "  sweeps|tags) compadd -- ${(f)\"$(${words[1]} completion --list ${what:-$operands} "
          "$store 2>/dev/null)\"} ;;\n"
          "  files) _files ;;\n"
          "  dirs) _files -/ ;;\n"
          "  words) compadd -- $alts ;;\n"
          "  esac\n"
          "}\n"
          "_sweepq \"$@\"\n",
          f);
}

/* ------------------------------------------------------------------ fish */

static void fish_verb(FILE *f, const sq_verb_doc *d)
{
    const char *n = d->usage.name;
    for (size_t i = 0; i < d->nopts; i++) {
        const sq_option *o = &d->opts[i];
        fprintf(f, "complete -c sweepq -n '__fish_seen_subcommand_from %s'", n);
        if (o->short_name)
            fprintf(f, " -s %c", o->short_name);
        if (o->long_name)
            fprintf(f, " -l %s", o->long_name);
        switch (option_kind(o)) {
        case K_SWEEPS: fputs(" -x -a '(__sweepq_list sweeps)'", f); break;
        case K_TAGS: fputs(" -x -a '(__sweepq_list tags)'", f); break;
        case K_FILES: fputs(" -r -F", f); break;
        case K_DIRS: fputs(" -x -a '(__fish_complete_directories)'", f); break;
        default:
            if (options_takes_arg(o))
                fputs(" -x", f);
        }
        fputs(" -d ", f);
        quoted(f, o->help, true);
        fputs("\n", f);
    }
    if (d->usage.reads)
        fprintf(f,
                "complete -c sweepq -n '__fish_seen_subcommand_from %s' -l json -d 'print "
                "machine-readable JSON'\n",
                n);
    strbuf words = SB_INIT;
    arg_kind k = operand_kind(&d->usage, &words);
    if (k == K_SWEEPS || k == K_WORDS) {
        fprintf(f, "complete -c sweepq -n '__fish_seen_subcommand_from %s' -f -a ", n);
        if (k == K_SWEEPS)
            fputs("'(__sweepq_list sweeps)'", f);
        else
            quoted(f, sb_str(&words), true);
        fputs("\n", f);
    } else if (k == K_NONE) {
        fprintf(f, "complete -c sweepq -n '__fish_seen_subcommand_from %s' -f\n", n);
    }
    sb_release(&words);
}

static void print_fish(FILE *f, const verb_docs *v)
{
    fputs("# fish completion for sweepq; generated by `sweepq completion fish`.\n"
          "function __sweepq_list\n"
          "    set -l cmd (commandline -opc)\n"
          "    set -l store\n"
          "    set -l i (contains -i -- --store $cmd)\n"
          "    and set store --store $cmd[(math $i + 1)]\n"
          "    $cmd[1] completion --list $argv[1] $store 2>/dev/null\n"
          "end\n"
          "complete -c sweepq -f\n"
          "complete -c sweepq -n '__fish_use_subcommand' -l version -d 'print the version'\n"
          "complete -c sweepq -n 'not __fish_use_subcommand' -l store -x -d 'the store URL'\n"
          "complete -c sweepq -n 'not __fish_use_subcommand' -l token-file -r -F "
          "-d 'an http(s) store token file'\n"
          "complete -c sweepq -n 'not __fish_use_subcommand' -s h -l help -d 'show this help'\n"
          "complete -c sweepq -n '__fish_use_subcommand' -a help -d 'show the help of sweepq or "
          "of a verb'\n",
          f);
    for (size_t i = 0; i < v->n; i++) {
        fprintf(f, "complete -c sweepq -n '__fish_use_subcommand' -a %s -d ", v->cmds[i].name);
        quoted(f, v->cmds[i].summary, true);
        fputs("\n", f);
    }
    for (size_t i = 0; i < v->n; i++)
        fish_verb(f, &v->docs[i]);
}

/* ---------------------------------------------------------------- --list */

/* Prints the store's sweep names or its tags (each once, first seen first). */
static int list_names(const char *what, const sq_globals *g)
{
    bool tags = !strcmp(what, "tags");
    workspace ws = WORKSPACE_INIT;
    store *st = NULL;
    store_sweep *s = NULL;
    size_t n = 0;
    int code = open_store(&ws, &st, g);
    if (code)
        return code;
    store_sweep_filter filter = {0};
    int rc = store_list_sweeps(st, &filter, &s, &n);
    if (rc)
        code = open_store_fail(rc, "list the sweeps");
    for (size_t i = 0; i < n && !code; i++) {
        if (!tags) {
            printf("%s\n", s[i].name);
            continue;
        }
        for (size_t k = 0; k < s[i].ntags; k++) {
            bool seen = false;
            for (size_t j = 0; j <= i && !seen; j++)
                for (size_t m = 0; m < (j == i ? k : s[j].ntags) && !seen; m++)
                    seen = !strcmp(s[j].tags[m], s[i].tags[k]);
            if (!seen)
                printf("%s\n", s[i].tags[k]);
        }
    }
    store_sweeps_free(s, n);
    store_close(st);
    workspace_release(&ws);
    return code;
}

int cmd_completion(int argc, char **argv)
{
    const char *list = NULL;
    const sq_option opts[] = {
        OPT_STRING(0, "list", &list, "WHAT",
                   "print the store's 'sweeps' (names) or 'tags', one a line"),
        OPT_END(),
    };
    sq_globals g = {0};
    int nargs = 0, rc = options_parse(argc, argv, &usage, opts, &g, &nargs);
    if (rc)
        return rc == OPTIONS_HELP_SHOWN ? EXIT_OK : rc;
    if (list) {
        if (nargs)
            return options_usage_error(&usage, "--list takes no shell");
        if (strcmp(list, "sweeps") && strcmp(list, "tags"))
            return options_usage_error(&usage, "--list takes 'sweeps' or 'tags', not '%s'", list);
        return list_names(list, &g);
    }
    if (nargs != 1)
        return options_usage_error(&usage, "name one shell: bash, zsh or fish");
    void (*print)(FILE *, const verb_docs *) = !strcmp(argv[0], "bash")   ? print_bash
                                               : !strcmp(argv[0], "zsh")  ? print_zsh
                                               : !strcmp(argv[0], "fish") ? print_fish
                                                                          : NULL;
    if (!print)
        return options_usage_error(&usage, "no completion for shell '%s': bash, zsh or fish",
                                   argv[0]);
    verb_docs v;
    docs_load(&v);
    print(stdout, &v);
    docs_release(&v);
    return EXIT_OK;
}
