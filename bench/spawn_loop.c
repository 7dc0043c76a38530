/*
 * spawn_loop.c - the physical limit for dispatch: a bare posix_spawn + wait
 * loop that keeps SLOTS copies of a command running until N have run.
 *
 *   bench_spawn_loop N SLOTS COMMAND [ARGS...]
 *
 * Prints "spawn_loop: N runs in T s = R/s". No store, no logs, no
 * environment: what sweepq's agent does on top of this is its overhead.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_spawn_loop N SLOTS COMMAND [ARGS...]\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10), slots = strtol(argv[2], NULL, 10);
    long started = 0, done = 0, running = 0;
    double t0 = now();
    while (done < n) {
        while (running < slots && started < n) {
            pid_t pid;
            int rc = posix_spawnp(&pid, argv[3], NULL, NULL, argv + 3, environ);
            if (rc) {
                fprintf(stderr, "spawn_loop: cannot run '%s': error %d\n", argv[3], rc);
                return 1;
            }
            started++;
            running++;
        }
        int status;
        if (waitpid(-1, &status, 0) < 0) {
            if (errno == EINTR)
                continue;
            perror("spawn_loop: waitpid");
            return 1;
        }
        running--;
        done++;
    }
    double dt = now() - t0;
    printf("spawn_loop: %ld runs in %.3f s = %.0f/s\n", n, dt, (double)n / dt);
    return 0;
}
