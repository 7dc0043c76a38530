/*
 * test_agent_metrics.c - metrics from output lines, JSON lines and W&B
 * summaries, and the line reader that follows a growing log.
 */
#include "util/common.h"

#include "agent/metrics.h"
#include "agent/tail.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static size_t add_line(metrics *m, const char *line)
{
    return metrics_add_output_line(m, line, strlen(line));
}

static void assert_final(metrics *m, const char *want)
{
    char *got = metrics_final_json(m);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void assert_rows(metrics *m, const char *want)
{
    char *got = metrics_take_rows(m);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_default_parser_reads_equals_and_colon_forms(void **state)
{
    metrics *m = metrics_new(NULL);
    assert_int_equal(add_line(m, "step=1 loss=0.5 acc: 0.25"), 2);
    assert_int_equal(add_line(m, "epoch 2 | val_loss = 1e-3, lr: -2.5E+2"), 2);
    assert_rows(m, "[{\"step\":1,\"loss\":0.5,\"acc\":0.25},{\"step\":1,\"val_loss\":0.001},"
                   "{\"step\":1,\"lr\":-250.0}]");
    assert_final(m, "{\"loss\":0.5,\"acc\":0.25,\"val_loss\":0.001,\"lr\":-250.0}");
    metrics_free(m);
}

static void test_default_parser_refuses_look_alikes(void **state)
{
    metrics *m = metrics_new(NULL);
    assert_int_equal(add_line(m, "running train.py --lr=0.1 --batch=32"), 0);
    assert_int_equal(add_line(m, "fetching http://localhost:8080/data"), 0);
    assert_int_equal(add_line(m, "Accuracy: 9897/10000 (99%)"), 0);
    assert_int_equal(add_line(m, "100%|#####| 50/50 [00:01<00:00, 45.2it/s]"), 0);
    assert_int_equal(add_line(m, "loss: nan acc=inf x=0x10 y=1.2.3"), 0);
    assert_int_equal(add_line(m, "time 12:30:45 std::vector note: see below"), 0);
    assert_int_equal(add_line(m, "no separators at all"), 0);
    assert_rows(m, NULL);
    assert_final(m, NULL);
    metrics_free(m);
}

static void test_default_parser_finds_metrics_inside_progress_bars(void **state)
{
    metrics *m = metrics_new(NULL);
    assert_int_equal(add_line(m, " 50%|##| 5/10 [00:01<00:01, 4.0it/s, loss=0.23, acc=95%]"), 2);
    assert_int_equal(add_line(m, "Test set: Average loss: 0.0333, Accuracy: 9897/10000 (99%)"), 1);
    assert_final(m, "{\"loss\":0.0333,\"acc\":95}");
    metrics_free(m);
}

static void test_last_value_wins_and_step_is_not_a_metric(void **state)
{
    metrics *m = metrics_new(NULL);
    add_line(m, "step=1 loss=3");
    add_line(m, "step=2 loss=2");
    assert_int_equal(add_line(m, "step=3"), 0);
    assert_int_equal(metrics_pending(m), 2);
    assert_final(m, "{\"loss\":2}");
    assert_rows(m, "[{\"step\":1,\"loss\":3},{\"step\":2,\"loss\":2}]");
    assert_int_equal(metrics_pending(m), 0);
    assert_rows(m, NULL);
    metrics_free(m);
}

static void test_each_metric_is_stepped_by_its_own_count_without_an_explicit_step(void **state)
{
    metrics *m = metrics_new(NULL);
    add_line(m, "loss=3 acc=0.1");
    add_line(m, "loss=2");
    add_line(m, "step=7 loss=1 acc=0.2"); /* explicit: 7, and still counted */
    add_line(m, "loss=0.5 acc=0.3");
    assert_rows(m, "[{\"step\":1,\"loss\":3},{\"step\":1,\"acc\":0.1},{\"step\":2,\"loss\":2},"
                   "{\"step\":7,\"loss\":1,\"acc\":0.2},{\"step\":4,\"loss\":0.5},"
                   "{\"step\":3,\"acc\":0.3}]");
    metrics_free(m);
}

static void test_json_lines_take_step_then_underscore_step_then_epoch(void **state)
{
    metrics *m = metrics_new(NULL);
    const char *lines[] = {
        "{\"_step\": 0, \"epoch\": 1, \"loss\": 0.9}", /* _step wins over epoch */
        "{\"epoch\": 2, \"loss\": 0.8}", "{\"step\": 5, \"_step\": 9, \"loss\": 0.7}",
        "{\"epoch\": -1, \"loss\": 0.6}", /* not a step: the 4th value */
    };
    for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
        assert_int_equal(metrics_add_json_line(m, lines[i], strlen(lines[i])), 0);
    assert_rows(m, "[{\"step\":0,\"loss\":0.9},{\"step\":2,\"loss\":0.8},"
                   "{\"step\":5,\"loss\":0.7},{\"step\":4,\"loss\":0.6}]");
    assert_final(m, "{\"loss\":0.6}");
    metrics_free(m);
}

typedef struct watched {
    uint64_t step[8];
    double value[8];
    size_t n;
} watched;

static void on_watched(uint64_t step, double value, void *ud)
{
    watched *w = ud;
    if (w->n < ARRAY_SIZE(w->step)) {
        w->step[w->n] = step;
        w->value[w->n++] = value;
    }
}

static void test_watched_metric_alone_is_kept_from_output_and_reported(void **state)
{
    metrics *m = metrics_new(NULL);
    watched w = {0};
    metrics_watch(m, "loss", on_watched, &w);
    assert_int_equal(add_line(m, "lr=0.1 w=256"), 0);
    assert_int_equal(add_line(m, "epoch 1 loss=0.5 acc=0.9"), 1);
    assert_int_equal(add_line(m, "loss: 0.25"), 1);
    const char *j = "{\"loss\": 0.125, \"acc\": 0.95}"; /* the metrics file: all kept */
    assert_int_equal(metrics_add_json_line(m, j, strlen(j)), 0);
    assert_rows(m, "[{\"step\":1,\"loss\":0.5},{\"step\":2,\"loss\":0.25},"
                   "{\"step\":3,\"loss\":0.125},{\"step\":1,\"acc\":0.95}]");
    assert_final(m, "{\"loss\":0.125,\"acc\":0.95}");
    assert_int_equal(w.n, 3);
    assert_int_equal(w.step[0], 1);
    assert_int_equal(w.step[2], 3);
    assert_true(w.value[1] == 0.25);
    assert_null(metrics_take_warning(m));
    char *keep[] = {"acc"}; /* the spec's metrics: [acc] */
    metrics_keep(m, keep, 1);
    assert_int_equal(add_line(m, "lr=0.2 loss=0.0625 acc=0.97"), 2);
    assert_rows(m, "[{\"step\":4,\"loss\":0.0625},{\"step\":2,\"acc\":0.97}]");
    metrics_free(m);
}

static void test_watched_metric_that_is_not_a_number_is_ignored_with_one_warning(void **state)
{
    metrics *m = metrics_new(NULL);
    watched w = {0};
    metrics_watch(m, "loss", on_watched, &w);
    assert_int_equal(add_line(m, "loss=nan"), 0);
    assert_int_equal(add_line(m, "loss: inf"), 0);
    const char *j = "{\"loss\": \"high\"}";
    assert_int_equal(metrics_add_json_line(m, j, strlen(j)), 0);
    assert_int_equal(add_line(m, "loss=0.5"), 1);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.step[0], 1); /* the garbage counted for nothing */
    char *warning = metrics_take_warning(m);
    assert_non_null(warning);
    assert_non_null(strstr(warning, "metric 'loss' reported a value that is not a finite number"));
    free(warning);
    assert_int_equal(add_line(m, "loss=nan"), 0);
    assert_null(metrics_take_warning(m)); /* once per attempt */
    metrics_free(m);
}

static void test_rows_past_the_bounds_are_dropped_with_one_warning(void **state)
{
    metrics *m = metrics_new(NULL);
    for (int i = 0; i < METRICS_MAX_PENDING + 10; i++)
        add_line(m, "loss=0.5");
    assert_int_equal(metrics_pending(m), METRICS_MAX_PENDING);
    add_line(m, "loss=0.25");
    assert_final(m, "{\"loss\":0.25}"); /* the final value is still the last one */
    char *warning = metrics_take_warning(m);
    assert_non_null(warning);
    assert_non_null(strstr(warning, "the excess is dropped"));
    free(warning);
    free(metrics_take_rows(m));
    add_line(m, "loss=0.125"); /* room again */
    assert_int_equal(metrics_pending(m), 1);
    assert_null(metrics_take_warning(m));
    metrics_free(m);
}

static void test_custom_pattern_matches_repeatedly(void **state)
{
    metrics_pattern *p = NULL;
    assert_int_equal(metrics_pattern_new(&p, "([a-z_]+) -> ([-0-9.e]+)"), 0);
    metrics *m = metrics_new(p);
    assert_int_equal(add_line(m, "loss -> 0.75 | acc -> 0.5 | junk -> abc"), 2);
    assert_int_equal(add_line(m, "loss=0.1"), 0);
    assert_final(m, "{\"loss\":0.75,\"acc\":0.5}");
    metrics_free(m);
    metrics_pattern_free(p);
}

static void test_custom_pattern_errors_are_clear(void **state)
{
    metrics_pattern *p = (metrics_pattern *)1;
    assert_int_equal(metrics_pattern_new(&p, "(unclosed"), SQ_EINVAL);
    assert_null(p);
    assert_non_null(strstr(sq_error_msg(), "invalid metrics pattern '(unclosed'"));
    assert_int_equal(metrics_pattern_new(&p, "loss=([0-9.]+)"), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "needs two groups"));
    assert_int_equal(metrics_pattern_new(&p, ""), 0);
    metrics_pattern_free(p);
}

static void test_json_lines_give_rows_with_dotted_names(void **state)
{
    metrics *m = metrics_new(NULL);
    const char *l1 = "{\"step\": 3, \"loss\": 0.2, \"val\": {\"acc\": 0.9}, \"tag\": \"x\", "
                     "\"ok\": true}";
    assert_int_equal(metrics_add_json_line(m, l1, strlen(l1)), 0);
    const char *bad = "{not json";
    assert_int_equal(metrics_add_json_line(m, bad, strlen(bad)), SQ_EINVAL);
    const char *arr = "[1, 2]";
    assert_int_equal(metrics_add_json_line(m, arr, strlen(arr)), SQ_EINVAL);
    assert_rows(m, "[{\"step\":3,\"loss\":0.2,\"val.acc\":0.9}]");
    assert_final(m, "{\"loss\":0.2,\"val.acc\":0.9}");
    metrics_free(m);
}

static void test_bad_metric_names_are_dropped_with_one_warning(void **state)
{
    metrics *m = metrics_new(NULL);
    assert_null(metrics_take_warning(m));
    const char *l1 = "{\"loss\": 0.5, \"a\\\"b\": 1, \"\": 2, \"x\\ny\": 3, \"\\u001b[31m\": 4}";
    assert_int_equal(metrics_add_json_line(m, l1, strlen(l1)), 0);
    const char *l2 = "{\"it's\": 5, \"acc\": 0.9}";
    assert_int_equal(metrics_add_json_line(m, l2, strlen(l2)), 0);
    assert_rows(m, "[{\"step\":1,\"loss\":0.5},{\"step\":1,\"acc\":0.9}]");
    assert_final(m, "{\"loss\":0.5,\"acc\":0.9}");
    char *w = metrics_take_warning(m);
    assert_non_null(w);
    assert_non_null(strstr(w, "metric name 'a\"b' dropped"));
    free(w);
    assert_null(metrics_take_warning(m)); /* once per attempt */
    metrics_free(m);
}

static void test_wandb_summary_has_the_last_word(void **state)
{
    metrics *m = metrics_new(NULL);
    add_line(m, "loss=0.5 acc=0.1");
    const char *summary = "{\"loss\": 0.25, \"_runtime\": 12, \"_step\": 9, "
                          "\"img\": {\"_type\": \"image-file\", \"size\": 3}, "
                          "\"eval\": {\"f1\": 0.75}, \"name\": \"x\"}";
    assert_int_equal(metrics_add_summary(m, summary, strlen(summary)), 0);
    assert_final(m, "{\"loss\":0.25,\"acc\":0.1,\"eval.f1\":0.75}");
    /* The summary adds final values only, no time-series row. */
    assert_rows(m, "[{\"step\":1,\"loss\":0.5},{\"step\":1,\"acc\":0.1}]");
    metrics_free(m);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_wandb_summary_is_found_under_the_trial_dir(void **state)
{
    char dir[] = "/tmp/sq-metrics-XXXXXX";
    assert_non_null(mkdtemp(dir));
    metrics *m = metrics_new(NULL);
    /* No wandb/ at all: nothing, and no error. */
    assert_int_equal(metrics_read_wandb_summary(m, dir), 0);
    assert_final(m, NULL);

    char *files = xasprintf("%s/wandb/run-20240101_000000-abc/files", dir);
    char *cmd = xasprintf("mkdir -p '%s' '%s/wandb/latest-run'", files, dir);
    assert_int_equal(system(cmd), 0);
    char *path = xasprintf("%s/wandb-summary.json", files);
    write_text(path, "{\"loss\": 0.125, \"_wandb\": {\"runtime\": 3}}");
    assert_int_equal(metrics_read_wandb_summary(m, dir), 0);
    assert_final(m, "{\"loss\":0.125}");

    metrics_free(m);
    free(path);
    free(cmd);
    free(files);
    cmd = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

/* ---- tail ---------------------------------------------------------------- */

typedef struct lines {
    char *items[32];
    size_t n;
} lines;

static void collect(const char *line, size_t len, void *ud)
{
    lines *l = ud;
    assert_int_equal(strlen(line), len);
    assert_true(l->n < ARRAY_SIZE(l->items));
    l->items[l->n++] = xstrdup(line);
}

static void lines_release(lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    l->n = 0;
}

static void append(int fd, const char *s)
{
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_tail_hands_over_complete_lines_as_the_file_grows(void **state)
{
    char path[] = "/tmp/sq-tail-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    tail t;
    tail_init(&t, TAIL_MAX_LINE);
    lines l = {.n = 0};

    assert_int_equal(tail_read(&t, fd, 0, collect, &l), 0);
    append(fd, "first line\nsecond ");
    assert_int_equal(tail_read(&t, fd, 0, collect, &l), 18);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0], "first line");
    append(fd, "half\r\n\nprogress 1\rprogress 2\rtail");
    tail_read(&t, fd, 0, collect, &l);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.items[1], "second half");
    assert_string_equal(l.items[2], "progress 1");
    assert_string_equal(l.items[3], "progress 2");
    tail_flush(&t, collect, &l);
    assert_int_equal(l.n, 5);
    assert_string_equal(l.items[4], "tail");

    lines_release(&l);
    tail_release(&t);
    close(fd);
    unlink(path);
}

static void test_tail_cuts_overlong_lines(void **state)
{
    char path[] = "/tmp/sq-tail-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    tail t;
    tail_init(&t, 8);
    lines l = {.n = 0};
    append(fd, "0123456789abcdef\nshort\n0123");
    tail_read(&t, fd, 0, collect, &l);
    append(fd, "4567XYZ");
    tail_read(&t, fd, 0, collect, &l);
    append(fd, "more\nend\n");
    tail_read(&t, fd, 0, collect, &l);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.items[0], "01234567");
    assert_string_equal(l.items[1], "short");
    assert_string_equal(l.items[2], "01234567");
    assert_string_equal(l.items[3], "end");
    lines_release(&l);
    tail_release(&t);
    close(fd);
    unlink(path);
}

static void test_tail_reads_at_most_max_bytes(void **state)
{
    char path[] = "/tmp/sq-tail-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    tail t;
    tail_init(&t, TAIL_MAX_LINE);
    lines l = {.n = 0};
    append(fd, "aaaa\nbbbb\n");
    assert_int_equal(tail_read(&t, fd, 5, collect, &l), 5);
    assert_int_equal(l.n, 1);
    assert_int_equal(tail_read(&t, fd, 5, collect, &l), 5);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[1], "bbbb");
    lines_release(&l);
    tail_release(&t);
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_parser_reads_equals_and_colon_forms),
        cmocka_unit_test(test_default_parser_refuses_look_alikes),
        cmocka_unit_test(test_default_parser_finds_metrics_inside_progress_bars),
        cmocka_unit_test(test_last_value_wins_and_step_is_not_a_metric),
        cmocka_unit_test(test_each_metric_is_stepped_by_its_own_count_without_an_explicit_step),
        cmocka_unit_test(test_json_lines_take_step_then_underscore_step_then_epoch),
        cmocka_unit_test(test_watched_metric_alone_is_kept_from_output_and_reported),
        cmocka_unit_test(test_watched_metric_that_is_not_a_number_is_ignored_with_one_warning),
        cmocka_unit_test(test_rows_past_the_bounds_are_dropped_with_one_warning),
        cmocka_unit_test(test_custom_pattern_matches_repeatedly),
        cmocka_unit_test(test_custom_pattern_errors_are_clear),
        cmocka_unit_test(test_json_lines_give_rows_with_dotted_names),
        cmocka_unit_test(test_bad_metric_names_are_dropped_with_one_warning),
        cmocka_unit_test(test_wandb_summary_has_the_last_word),
        cmocka_unit_test(test_wandb_summary_is_found_under_the_trial_dir),
        cmocka_unit_test(test_tail_hands_over_complete_lines_as_the_file_grows),
        cmocka_unit_test(test_tail_cuts_overlong_lines),
        cmocka_unit_test(test_tail_reads_at_most_max_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
