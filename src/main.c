/*
 * main.c - sweepq's entry point: the table of verbs, --version, help, and
 * dispatch. Each verb lives in its own file under src/cmd/.
 */
#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "util/common.h"

#include <locale.h>

/* The single source of truth for the verbs `sweepq help` lists. */
static const sq_command commands[] = {
    {"validate", cmd_validate, "check a sweep spec and report every error"},
    {"init", cmd_init, "start a project here: a commented sweep.yaml and .sweepq/"},
    {"create", cmd_create, "register a sweep in the store (--dry-run previews the commands)"},
    {"run", cmd_run, "create sweeps and run their trials here until they end (the main job)"},
    {"agent", cmd_agent, "claim and run trials of the store's sweeps on this machine"},
    {"serve", cmd_serve, "serve the store over HTTP: the API for remote agents and the dashboard"},
    {"status", cmd_status, "progress of each sweep: counts, bar, rate, ETA (--watch)"},
    {"trials", cmd_trials, "list a sweep's trials with parameters and metrics"},
    {"best", cmd_best, "the best trials of a sweep by its metric"},
    {"logs", cmd_logs, "print (or follow with -f) a trial's output"},
    {"export", cmd_export, "write a sweep's trials as CSV, JSON lines or JSON"},
    {"cancel", cmd_cancel, "cancel a sweep's pending and running trials"},
    {"retry", cmd_retry, "put failed (or cancelled) trials back to pending"},
    {"pause", cmd_pause, "stop agents from starting a sweep's trials"},
    {"resume", cmd_resume, "let agents start a paused sweep's trials again"},
    {"wait", cmd_wait, "wait until sweeps finish; exit 0 if every trial succeeded"},
    {"import", cmd_import, "mark trials found in a results CSV as succeeded"},
    {"agents", cmd_agents, "list the agents and their heartbeats"},
    {"gpus", cmd_gpus, "show the GPUs an agent here would see and which it would use"},
    {"recent", cmd_recent, "list the sweeps of the last N days"},
    {"reap", cmd_reap, "expire the leases of agents that stopped heartbeating"},
    {"gc", cmd_gc, "delete old finished sweeps and their directories"},
    {"remote", cmd_remote, "add, list, test and check the SSH machines agents can run on"},
    {"launch", cmd_launch, "sync the project to a remote and start agents there over SSH"},
    {"collect", cmd_collect, "bring a sweep's trial directories back from its remotes"},
    {"submit", cmd_submit, "submit a sweep to Slurm or PBS as an array job of agents"},
    {"queue", cmd_queue, "show the Slurm or PBS jobs submitted for sweeps"},
    {"completion", cmd_completion, "print the bash, zsh or fish completion script"},
};

static const sq_exit_doc exit_code_help[] = {
    {EXIT_OK, "success; for run and wait: every trial succeeded"},
    {EXIT_FAILED, "invalid spec, or a trial failed or was cancelled"},
    {EXIT_USAGE, "bad command line"},
    {EXIT_NOTFOUND, "no such sweep, trial, file or project"},
    {EXIT_STORE, "the store could not be opened or used"},
    {EXIT_CONFLICT, "the request conflicts with what is stored"},
    {EXIT_INTERNAL, "unexpected internal error"},
    {EXIT_HOST, "agent, run: this machine cannot write the trials' files; they were given back"},
    {EXIT_INTERRUPTED, "interrupted before a clean drain"},
};

static void print_main_help(FILE *f)
{
    fputs("usage: sweepq [--version] [help] VERB [options] [args]\n\n"
          "sweepq runs hyperparameter sweeps on every GPU and machine you have,\n"
          "without losing or doubling a trial.\n\nverbs:\n",
          f);
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\nEvery verb takes --help and --store URL; verbs that read take --json.\n"
          "The store is --store URL, else $SWEEPQ_STORE, else .sweepq/ found by walking\n"
          "up from the current directory.\n\nexit codes:\n",
          f);
    for (size_t i = 0; i < ARRAY_SIZE(exit_code_help); i++)
        fprintf(f, "  %-4d %s\n", exit_code_help[i].code, exit_code_help[i].meaning);
    fputs("\nSee 'sweepq help VERB' for a verb's options; 'sweepq help --man [VERB]'\n"
          "prints the man page source (man sweepq-VERB once installed).\n",
          f);
}

const sq_command *cmd_table(size_t *n)
{
    *n = ARRAY_SIZE(commands);
    return commands;
}

const sq_exit_doc *cmd_exit_codes(size_t *n)
{
    *n = ARRAY_SIZE(exit_code_help);
    return exit_code_help;
}

const sq_command *cmd_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static int unknown_verb(const char *name)
{
    fprintf(stderr, "sweepq: unknown verb '%s'\n", name);
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (!strncmp(commands[i].name, name, 2))
            fprintf(stderr, "did you mean '%s'?\n", commands[i].name);
    fputs("Try 'sweepq help' for the list of verbs.\n", stderr);
    return EXIT_USAGE;
}

static int help(int argc, char **argv)
{
    if (argc < 2) {
        print_main_help(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--man"))
        return manpage_print(stdout, argc > 2 ? argv[2] : NULL);
    const sq_command *c = cmd_find(argv[1]);
    if (!c)
        return unknown_verb(argv[1]);
    char *args[] = {argv[1], "--help", NULL};
    return c->fn(2, args);
}

int main(int argc, char **argv)
{
    setlocale(LC_CTYPE, "");
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        print_main_help(stderr);
        return EXIT_USAGE;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "--version") || !strcmp(verb, "version")) {
        printf("sweepq %s\n", SQ_VERSION);
        return EXIT_OK;
    }
    if (!strcmp(verb, "help") || !strcmp(verb, "--help") || !strcmp(verb, "-h"))
        return help(argc - 1, argv + 1);
    const sq_command *c = cmd_find(verb);
    if (!c)
        return unknown_verb(verb);
    return c->fn(argc - 1, argv + 1);
}
