/*
 * watch.c - the redraw loop of the --watch verbs (watch.h).
 *
 * The signal handlers only set a flag; the loop reads it between screens
 * and while it waits, waking at least every time_sleep slice.
 */
#include "util/common.h"

#include "cmd/exitcodes.h"
#include "cmd/watch.h"
#include "util/timeutil.h"

#include <signal.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

int watch_run(const watch_opts *o, watch_render_fn render, void *ctx)
{
    bool tty = isatty(STDOUT_FILENO) && !o->json;
    struct sigaction sa = {0};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int code = EXIT_OK;
    while (!interrupted) {
        /* Build the whole screen first, so a redraw never flickers half-drawn. */
        char *screen = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&screen, &len);
        if (!mem)
            SQ_BUG("open_memstream failed");
        bool again = false;
        code = render(mem, ctx, &again);
        fclose(mem);
        if (code == EXIT_OK || o->show_failures) {
            if (tty) {
                char now[40];
                printf("\033[H\033[2J%s (Ctrl-C to stop)", o->title);
                if (o->clock)
                    printf("   %s", time_format_local(time_now(), now, sizeof now));
                fputs("\n\n", stdout);
            }
            fwrite(screen, 1, len, stdout);
            if (!tty && !o->json)
                fputc('\n', stdout);
            fflush(stdout);
        }
        free(screen);
        if (code != EXIT_OK || !again)
            break;
        double until = time_mono() + o->interval;
        while (!interrupted && time_mono() < until)
            time_sleep(until - time_mono());
    }
    return code;
}
