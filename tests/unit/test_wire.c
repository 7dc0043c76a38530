/*
 * test_wire.c - the JSON codec of store structs (src/store/wire.c): every
 * object survives encode -> text -> decode unchanged, JSON-text fields stay
 * byte for byte, and malformed objects are refused naming the field.
 */
#include "util/common.h"

#include "store/wire.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

/* Serialises and parses j (taking its reference), as the network would. */
static json_t *through_text(json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(text);
    json_error_t err;
    json_t *back = json_loads(text, 0, &err);
    free(text);
    assert_non_null(back);
    return back;
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    assert_non_null(j);
    return j;
}

/* JSON text with key order and number spelling a re-encoding would change. */
#define PARAMS "{\"lr\":1.50e-3,\"b\":1,\"a\":\"x\\u00e9\"}"

static void test_sweep_round_trip(void **state)
{
    char *tags[] = {"exp1", "night"};
    store_sweep s = {
        .id = 42,
        .name = "lr-sweep",
        .state = SWEEP_PAUSED,
        .spec_json = "{\"name\":\"lr-sweep\",\"z\":1.0}",
        .spec_yaml = "name: lr-sweep\n",
        .command_json = "[\"python3\",\"train.py\"]",
        .tags = tags,
        .ntags = 2,
        .metric_name = NULL,
        .maximize = true,
        .max_attempts = 3,
        .lease_ttl = 60.5,
        .timeout = 0,
        .cpus = 2,
        .gpus = 1,
        .gpu_memory = (uint64_t)8 << 30,
        .open_ended = true,
        .total = 0,
        .next_number = 17,
        .created_at = 1700000000.25,
        .updated_at = 1700000001.5,
        .finished_at = 0,
        .counts = {1, 2, 3, 4, 5, 6},
        .completion_claimed = true,
    };
    store_sweep *d = NULL;
    json_t *j = through_text(wire_sweep_encode(&s));
    assert_int_equal(wire_sweep_decode(&d, j), 0);
    json_decref(j);
    assert_int_equal(d->id, 42);
    assert_string_equal(d->name, s.name);
    assert_int_equal(d->state, SWEEP_PAUSED);
    assert_string_equal(d->spec_json, s.spec_json);
    assert_string_equal(d->spec_yaml, s.spec_yaml);
    assert_string_equal(d->command_json, s.command_json);
    assert_int_equal(d->ntags, 2);
    assert_string_equal(d->tags[1], "night");
    assert_null(d->metric_name);
    assert_true(d->maximize);
    assert_int_equal(d->max_attempts, 3);
    assert_true(d->lease_ttl == 60.5);
    assert_int_equal(d->cpus, 2);
    assert_int_equal(d->gpus, 1);
    assert_true(d->gpu_memory == (uint64_t)8 << 30);
    assert_true(d->open_ended);
    assert_int_equal(d->next_number, 17);
    assert_true(d->created_at == 1700000000.25);
    assert_true(d->updated_at == 1700000001.5);
    assert_true(d->finished_at == 0);
    assert_int_equal(d->counts.pending, 1);
    assert_int_equal(d->counts.cancelled, 5);
    assert_int_equal(d->counts.stopped, 6);
    assert_true(d->completion_claimed);
    store_sweep_free(d);

    /* a list of them, and a metric name present */
    s.metric_name = "loss";
    store_sweep arr[2] = {s, s};
    arr[1].id = 43;
    store_sweep *list = NULL;
    size_t n = 0;
    j = through_text(wire_sweeps_encode(arr, 2));
    assert_int_equal(wire_sweeps_decode(&list, &n, j), 0);
    json_decref(j);
    assert_int_equal(n, 2);
    assert_int_equal(list[1].id, 43);
    assert_string_equal(list[0].metric_name, "loss");
    store_sweeps_free(list, n);
}

static void test_sweep_def_round_trip_keeps_json_text(void **state)
{
    const char *tags[] = {"a"};
    store_trial_def trials[] = {{1, "k1", PARAMS}, {2, "k2", "{}"}};
    store_sweep_def def = {
        .name = "s",
        .spec_json = "{\"b\":2,\"a\":1}",
        .spec_yaml = NULL,
        .command_json = "[\"echo\",\"${lr}\"]",
        .tags = tags,
        .ntags = 1,
        .metric_name = "acc",
        .maximize = true,
        .max_attempts = 2,
        .lease_ttl = 30,
        .timeout = 90,
        .cpus = 1,
        .total = 2,
        .trials = trials,
        .ntrials = 2,
    };
    json_t *j = through_text(wire_sweep_def_encode(&def));
    store_sweep_def d;
    assert_int_equal(wire_sweep_def_decode(&d, j), 0);
    assert_string_equal(d.name, "s");
    assert_string_equal(d.spec_json, def.spec_json);
    assert_null(d.spec_yaml);
    assert_string_equal(d.command_json, def.command_json);
    assert_int_equal(d.ntags, 1);
    assert_string_equal(d.tags[0], "a");
    assert_string_equal(d.metric_name, "acc");
    assert_true(d.maximize);
    assert_int_equal(d.max_attempts, 2);
    assert_true(d.timeout == 90);
    assert_int_equal(d.total, 2);
    assert_int_equal(d.ntrials, 2);
    assert_int_equal(d.trials[0].number, 1);
    assert_string_equal(d.trials[0].key, "k1");
    assert_string_equal(d.trials[0].params_json, PARAMS); /* byte for byte */
    wire_sweep_def_release(&d);
    json_decref(j);

    /* only the required fields: the rest take their defaults */
    j = parse("{\"name\":\"m\",\"spec_json\":\"{}\",\"command_json\":\"[]\",\"max_attempts\":1,"
              "\"lease_ttl\":10}");
    assert_int_equal(wire_sweep_def_decode(&d, j), 0);
    assert_int_equal(d.ntrials, 0);
    assert_int_equal(d.ntags, 0);
    assert_null(d.metric_name);
    wire_sweep_def_release(&d);
    json_decref(j);
}

static void test_trial_round_trip(void **state)
{
    store_trial t = {
        .id = 7,
        .sweep_id = 3,
        .sweep_name = "s",
        .number = 12,
        .key = "abc",
        .params_json = PARAMS,
        .state = TRIAL_RUNNING,
        .attempt = 2,
        .failures = 1,
        .agent_id = "host:12:ab",
        .lease_expires = 1700000100.5,
        .created_at = 1,
        .started_at = 2,
        .finished_at = 0,
        .exit_code = -1,
        .term_signal = 9,
        .last_outcome = OUTCOME_TIMED_OUT,
        .error = "timed out after 30s",
        .metrics_json = "{\"loss\":0.20}",
        .cancel_requested = true,
    };
    store_trial *d = NULL;
    json_t *j = through_text(wire_trial_encode(&t));
    assert_int_equal(wire_trial_decode(&d, j), 0);
    json_decref(j);
    assert_int_equal(d->id, 7);
    assert_int_equal(d->sweep_id, 3);
    assert_string_equal(d->sweep_name, "s");
    assert_int_equal(d->number, 12);
    assert_string_equal(d->params_json, PARAMS);
    assert_int_equal(d->state, TRIAL_RUNNING);
    assert_int_equal(d->attempt, 2);
    assert_int_equal(d->failures, 1);
    assert_string_equal(d->agent_id, t.agent_id);
    assert_true(d->lease_expires == t.lease_expires);
    assert_int_equal(d->exit_code, -1);
    assert_int_equal(d->term_signal, 9);
    assert_int_equal(d->last_outcome, OUTCOME_TIMED_OUT);
    assert_string_equal(d->error, t.error);
    assert_string_equal(d->metrics_json, "{\"loss\":0.20}");
    assert_true(d->cancel_requested);
    store_trial_free(d);

    /* nulls come back as NULL, in a list */
    t.agent_id = NULL;
    t.error = NULL;
    store_trial *list = NULL;
    size_t n = 0;
    j = through_text(wire_trials_encode(&t, 1));
    assert_int_equal(wire_trials_decode(&list, &n, j), 0);
    json_decref(j);
    assert_int_equal(n, 1);
    assert_null(list[0].agent_id);
    assert_null(list[0].error);
    store_trials_free(list, n);
}

static void test_attempts_agents_claims_round_trip(void **state)
{
    store_attempt a[] = {
        {1, "ag1", 10.5, 20.25, OUTCOME_LOST, -1, 0, "lease expired"},
        {2, NULL, 30, 0, OUTCOME_NONE, -1, 0, NULL},
    };
    store_attempt *ad = NULL;
    size_t n = 0;
    json_t *j = through_text(wire_attempts_encode(a, 2));
    assert_int_equal(wire_attempts_decode(&ad, &n, j), 0);
    json_decref(j);
    assert_int_equal(n, 2);
    assert_int_equal(ad[0].attempt, 1);
    assert_string_equal(ad[0].agent_id, "ag1");
    assert_true(ad[0].finished_at == 20.25);
    assert_int_equal(ad[0].outcome, OUTCOME_LOST);
    assert_string_equal(ad[0].error, "lease expired");
    assert_null(ad[1].agent_id);
    assert_int_equal(ad[1].outcome, OUTCOME_NONE);
    store_attempts_free(ad, n);

    store_agent ag = {"h:1:x", "h", "[{\"index\":0,\"memory\":8}]", "0.1.0", 123, 4, 2, 5.5,
                      6.5,     true};
    store_agent *agd = NULL;
    j = through_text(wire_agents_encode(&ag, 1));
    assert_int_equal(wire_agents_decode(&agd, &n, j), 0);
    json_decref(j);
    assert_int_equal(n, 1);
    assert_string_equal(agd[0].id, "h:1:x");
    assert_string_equal(agd[0].gpus_json, ag.gpus_json);
    assert_int_equal(agd[0].pid, 123);
    assert_int_equal(agd[0].slots, 4);
    assert_int_equal(agd[0].running, 2);
    assert_true(agd[0].last_seen == 6.5);
    assert_true(agd[0].alive);
    store_agents_free(agd, n);

    store_agent_info info = {"h:1:x", "h", 123, 4, NULL, "0.1.0"};
    store_agent_info infod;
    j = through_text(wire_agent_info_encode(&info));
    assert_int_equal(wire_agent_info_decode(&infod, j), 0);
    assert_string_equal(infod.id, "h:1:x");
    assert_int_equal(infod.pid, 123);
    assert_int_equal(infod.slots, 4);
    assert_null(infod.gpus_json);
    assert_string_equal(infod.version, "0.1.0");
    json_decref(j);

    store_claimed c = {99, 3, 12, 4, 1, true, PARAMS, "key12", 1700000200.125};
    store_claimed *cd = NULL;
    j = through_text(wire_claims_encode(&c, 1));
    assert_int_equal(wire_claims_decode(&cd, &n, j), 0);
    json_decref(j);
    assert_int_equal(n, 1);
    assert_int_equal(cd[0].trial_id, 99);
    assert_int_equal(cd[0].sweep_id, 3);
    assert_int_equal(cd[0].number, 12);
    assert_int_equal(cd[0].attempt, 4);
    assert_int_equal(cd[0].failures, 1);
    assert_true(cd[0].resume);
    assert_string_equal(cd[0].params_json, PARAMS);
    assert_string_equal(cd[0].key, "key12");
    assert_true(cd[0].lease_expires == c.lease_expires);
    store_claims_free(cd, n);
}

static void test_leases_and_finish_round_trip(void **state)
{
    store_lease l[] = {{5, 2, true, false}, {6, 1, false, true}};
    store_lease *ld = NULL;
    size_t n = 0;

    /* the request carries no answers, and refuses them */
    json_t *j = through_text(wire_leases_encode(l, 2, false));
    assert_null(json_object_get(json_array_get(j, 0), "lost"));
    assert_int_equal(wire_leases_decode(&ld, &n, j, false), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ld[1].trial_id, 6);
    assert_int_equal(ld[1].attempt, 1);
    assert_false(ld[1].cancel);
    free(ld);
    json_decref(j);

    j = through_text(wire_leases_encode(l, 2, true));
    assert_int_equal(wire_leases_decode(&ld, &n, j, false), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "unknown field 'lost'"));
    assert_null(ld);
    assert_int_equal(wire_leases_decode(&ld, &n, j, true), 0);
    assert_true(ld[0].lost);
    assert_false(ld[0].cancel);
    assert_true(ld[1].cancel);
    free(ld);
    json_decref(j);

    store_result r = {OUTCOME_FAILED, 3, 0, "exit 3", "{\"loss\":1e-5}", 0};
    store_result rd;
    int attempt = 0;
    j = through_text(wire_finish_encode(7, &r));
    assert_int_equal(wire_finish_decode(&attempt, &rd, j), 0);
    assert_int_equal(attempt, 7);
    assert_int_equal(rd.outcome, OUTCOME_FAILED);
    assert_int_equal(rd.exit_code, 3);
    assert_string_equal(rd.error, "exit 3");
    assert_string_equal(rd.metrics_json, "{\"loss\":1e-5}");
    json_decref(j);

    r.error = NULL;
    r.metrics_json = NULL;
    j = through_text(wire_finish_encode(1, &r));
    assert_true(json_is_null(json_object_get(j, "error")));
    assert_int_equal(wire_finish_decode(&attempt, &rd, j), 0);
    assert_null(rd.error);
    assert_null(rd.metrics_json);
    json_decref(j);
}

static void test_decode_names_bad_field(void **state)
{
    store_trial *t = NULL;
    store_agent_info info;
    json_t *j = parse("{\"id\":\"a\",\"host\":\"h\",\"pid\":\"12\",\"slots\":1}");
    assert_int_equal(wire_agent_info_decode(&info, j), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "invalid agent: field 'pid' must be an integer");
    json_decref(j);

    j = parse("{\"id\":\"a\",\"host\":\"h\",\"pid\":12,\"slots\":1,\"colour\":\"red\"}");
    assert_int_equal(wire_agent_info_decode(&info, j), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "invalid agent: unknown field 'colour'");
    json_decref(j);

    j = parse("{\"id\":\"a\",\"host\":\"h\",\"slots\":1}");
    assert_int_equal(wire_agent_info_decode(&info, j), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "field 'pid' is missing"));
    json_decref(j);

    j = parse("[1,2]");
    assert_int_equal(wire_trial_decode(&t, j), SQ_EINVAL);
    assert_null(t);
    assert_non_null(strstr(sq_error_msg(), "expected a JSON object"));
    json_decref(j);

    /* a bad element deep in a list frees what was decoded before it */
    store_trial good = {
        .id = 1, .sweep_name = "s", .key = "k", .params_json = "{}", .metrics_json = "{}"};
    json_t *list = wire_trials_encode(&good, 1);
    json_t *bad = wire_trial_encode(&good);
    json_object_set_new(bad, "state", json_string("sleeping"));
    json_array_append_new(list, bad);
    store_trial *out = NULL;
    size_t n = 9;
    assert_int_equal(wire_trials_decode(&out, &n, list), SQ_EINVAL);
    assert_null(out);
    assert_int_equal(n, 0);
    assert_non_null(strstr(sq_error_msg(), "field 'state' must be one of pending"));
    json_decref(list);

    /* negative counts, out-of-range ints */
    j = parse("{\"trial_id\":1,\"attempt\":4294967296}");
    json_t *arr = json_array();
    json_array_append_new(arr, j);
    store_lease *l = NULL;
    assert_int_equal(wire_leases_decode(&l, &n, arr, false), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "field 'attempt' is out of range"));
    json_decref(arr);

    /* the small-body helpers */
    static const char *const allowed[] = {"agent_id", "sweep_id", "max", NULL};
    j = parse("{\"agent_id\":\"a\",\"sweep_id\":2.5,\"maxx\":1}");
    assert_int_equal(wire_check_fields(j, "claim request", allowed), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "invalid claim request: unknown field 'maxx'");
    int64_t id = 0;
    assert_int_equal(wire_get_int(&id, j, "claim request", "sweep_id", false), SQ_EINVAL);
    assert_string_equal(sq_error_msg(),
                        "invalid claim request: field 'sweep_id' must be an integer");
    const char *s = NULL;
    assert_int_equal(wire_get_string(&s, j, "claim request", "agent_id", false, false), 0);
    assert_string_equal(s, "a");
    bool b = true;
    assert_int_equal(wire_get_bool(&b, j, "claim request", "failed", true), 0);
    assert_true(b); /* optional and missing: untouched */
    double d = 0;
    assert_int_equal(wire_get_real(&d, j, "claim request", "sweep_id", false), 0);
    assert_true(d == 2.5);
    json_decref(j);
}

static void test_log_body_carries_any_bytes(void **state)
{
    static const char text[] = "epoch 1 \xc3\xa9\n";
    static const char bytes[] = "out\n\0\xff\xfe \xe2\x82"; /* NUL, invalid, a cut character */
    int attempt = 0;
    char *got = NULL;
    size_t len = 0;

    /* text goes as text, readable on the wire */
    json_t *j = through_text(wire_log_encode(3, text, sizeof text - 1));
    assert_string_equal(json_string_value(json_object_get(j, "text")), text);
    assert_int_equal(wire_log_decode(&attempt, &got, &len, j), 0);
    assert_int_equal(attempt, 3);
    assert_int_equal(len, sizeof text - 1);
    assert_memory_equal(got, text, len);
    free(got);
    json_decref(j);

    /* other bytes go as base64 and come back the same */
    j = through_text(wire_log_encode(1, bytes, sizeof bytes - 1));
    assert_null(json_object_get(j, "text"));
    assert_int_equal(wire_log_decode(&attempt, &got, &len, j), 0);
    assert_int_equal(len, sizeof bytes - 1);
    assert_memory_equal(got, bytes, len);
    assert_int_equal(got[len], '\0');
    free(got);
    json_decref(j);

    j = through_text(wire_log_encode(1, "", 0));
    assert_int_equal(wire_log_decode(&attempt, &got, &len, j), 0);
    assert_int_equal(len, 0);
    free(got);
    json_decref(j);

    j = parse("{\"attempt\":1,\"text\":\"a\",\"text_base64\":\"YQ==\"}");
    assert_int_equal(wire_log_decode(&attempt, &got, &len, j), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "exactly one"));
    assert_null(got);
    json_decref(j);
    j = parse("{\"attempt\":1,\"text_base64\":\"!!!\"}");
    assert_int_equal(wire_log_decode(&attempt, &got, &len, j), SQ_EINVAL);
    assert_non_null(strstr(sq_error_msg(), "must be base64"));
    json_decref(j);
}

static void test_errors_map_both_ways(void **state)
{
    const int codes[] = {SQ_EINVAL, SQ_ENOTFOUND, SQ_ELEASE_LOST, SQ_ECONFLICT, SQ_EEXIST,
                         SQ_EBUSY,  SQ_EIO,       SQ_EEMPTY,      SQ_EACCES,    SQ_ERROR};
    const int statuses[] = {400, 404, 409, 409, 409, 503, 503, 404, 401, 500};
    for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
        assert_int_equal(wire_error_status(codes[i]), statuses[i]);
        json_t *j = through_text(wire_error_encode(wire_error_name(codes[i]), "no sweep 'x'"));
        sq_error_clear();
        assert_int_equal(wire_error_decode(j), codes[i]);
        assert_string_equal(sq_error_msg(), "no sweep 'x'");
        json_decref(j);
    }
    assert_string_equal(wire_error_name(SQ_ELEASE_LOST), "ELEASE_LOST");
    assert_int_equal(wire_error_code("EAUTH"), SQ_EACCES);
    assert_int_equal(wire_error_code("ETOOBIG"), SQ_EINVAL);
    assert_int_equal(wire_error_code("ENOROUTE"), SQ_EINVAL);
    assert_int_equal(wire_error_code("EWHAT"), SQ_ERROR);

    json_t *j = parse("{\"ok\":true}");
    assert_int_equal(wire_error_decode(j), 0);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep_round_trip),
        cmocka_unit_test(test_sweep_def_round_trip_keeps_json_text),
        cmocka_unit_test(test_trial_round_trip),
        cmocka_unit_test(test_attempts_agents_claims_round_trip),
        cmocka_unit_test(test_leases_and_finish_round_trip),
        cmocka_unit_test(test_decode_names_bad_field),
        cmocka_unit_test(test_log_body_carries_any_bytes),
        cmocka_unit_test(test_errors_map_both_ways),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
