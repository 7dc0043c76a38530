/*
 * exitcodes.h - every exit status sweepq uses, in one place. `sweepq help`
 * prints this table (exit_code_help in main.c), so keep the two in step.
 */
#ifndef SQ_EXITCODES_H
#define SQ_EXITCODES_H

enum {
    EXIT_OK = 0,        /* done; for wait/run: every trial succeeded */
    EXIT_FAILED = 1,    /* invalid spec, or some trial failed or was cancelled */
    EXIT_USAGE = 2,     /* bad command line */
    EXIT_NOTFOUND = 3,  /* no such sweep, trial, file or project */
    EXIT_STORE = 4,     /* the store could not be opened or used */
    EXIT_CONFLICT = 5,  /* the request conflicts with what is stored */
    EXIT_INTERNAL = 70, /* an unexpected error (EX_SOFTWARE) */
    EXIT_HOST = 73,     /* agent: this machine cannot write the project's files
                           (read-only or full disk); its trials were given back
                           (EX_CANTCREAT) */
    EXIT_INTERRUPTED = 130,
};

#endif
