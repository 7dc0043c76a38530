/*
 * cmd.h - the verbs. One file per verb in src/cmd/, each defining one
 * `int cmd_VERB(int argc, char **argv)` that gets argv starting at the verb
 * name and returns an exit code from exitcodes.h. main.c's table lists them.
 */
#ifndef SQ_CMD_H
#define SQ_CMD_H

#include <stddef.h>
#include <stdio.h>

typedef struct sq_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary; /* one line for `sweepq help` */
} sq_command;

int cmd_validate(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_trials(int argc, char **argv);
int cmd_best(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_retry(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_reap(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_agents(int argc, char **argv);
int cmd_recent(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_gpus(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_remote(int argc, char **argv);
int cmd_launch(int argc, char **argv);
int cmd_collect(int argc, char **argv);
int cmd_completion(int argc, char **argv);

/* main.c's tables: every verb in `sweepq help` order, and the exit codes. */
typedef struct sq_exit_doc {
    int code;
    const char *meaning;
} sq_exit_doc;
const sq_command *cmd_table(size_t *n);
const sq_exit_doc *cmd_exit_codes(size_t *n);
const sq_command *cmd_find(const char *name); /* NULL when there is no such verb */

/*
 * Writes the man page (roff, man(7) macros) of verb to f: sweepq(1) when verb
 * is NULL, else sweepq-VERB(1), made from the verb's option table
 * (options_capture) as its --help is. Returns EXIT_OK, or EXIT_USAGE after a
 * message when there is no such verb.
 */
int manpage_print(FILE *f, const char *verb);

#endif
