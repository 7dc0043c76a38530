/*
 * cmd.h - the verbs. One file per verb in src/cmd/, each defining one
 * `int cmd_VERB(int argc, char **argv)` that gets argv starting at the verb
 * name and returns an exit code from exitcodes.h. main.c's table lists them.
 */
#ifndef SQ_CMD_H
#define SQ_CMD_H

typedef struct sq_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary; /* one line for `sweepq help` */
} sq_command;

int cmd_validate(int argc, char **argv);
int cmd_create(int argc, char **argv);

#endif
