/*
 * test_dynlib.c - run-time loading of shared libraries (src/util/dynlib.c)
 * against real ones: libm's functions land in typed slots and work; a
 * library or a symbol that is missing is refused with a message saying what
 * to install, and the refusal is remembered; the start hook runs once, even
 * when many threads load at once. Older names stand in for a missing newest
 * one, optional functions may be missing, and a library that no package
 * ships is refused without install advice.
 */
#include "util/common.h"

#include "util/dynlib.h"

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>

#include <cmocka.h>

static struct {
    __typeof__(sqrt) *root;
    __typeof__(cos) *cosine;
    __typeof__(sin) *sine;
} m;

static const dynlib_symbol m_symbols[] = {
    {"sqrt", (void **)&m.root},
    {"cos", (void **)&m.cosine},
};

/* A libm that, for the test, also needs a function no libm has. */
static const dynlib_symbol m_symbols_and_one_more[] = {
    {"sqrt", (void **)&m.root},
    {"sq_no_such_function", (void **)&m.cosine},
};

/* libm as a library to load for symbols (none of it loaded yet: m empty). */
static dynlib libm(const dynlib_symbol *symbols, size_t nsymbols, const char *(*start)(void))
{
    memset(&m, 0, sizeof m);
    return (dynlib){.soname = "libm.so.6",
                    .what = "libm",
                    .package = "libc6",
                    .symbols = symbols,
                    .nsymbols = nsymbols,
                    .start = start};
}

static void test_load_fills_every_slot_with_the_function(void **state)
{
    dynlib lib = libm(m_symbols, ARRAY_SIZE(m_symbols), NULL);
    assert_int_equal(dynlib_load(&lib), 0);
    assert_true(m.root(16.0) == 4.0);
    assert_true(m.cosine(0.0) == 1.0);
    assert_int_equal(dynlib_load(&lib), 0); /* again: already loaded */
}

/* sqrt under a versioned name libm does not have, then its own. */
static const dynlib_symbol m_symbols_versioned[] = {
    {"sq_sqrt_v2", (void **)&m.root},
    {"sqrt", (void **)&m.root},
    {"cos", (void **)&m.cosine},
};

static void test_older_name_stands_in_for_a_missing_newest_one(void **state)
{
    dynlib lib = libm(m_symbols_versioned, ARRAY_SIZE(m_symbols_versioned), NULL);
    assert_int_equal(dynlib_load(&lib), 0);
    assert_true(m.root(16.0) == 4.0);
    assert_true(m.cosine(0.0) == 1.0);
}

/* Both names exist: the slot must get the first (sqrt(0) is 0, cos(0) 1). */
static const dynlib_symbol m_symbols_both_exist[] = {
    {"sqrt", (void **)&m.root},
    {"cos", (void **)&m.root},
};

static void test_newest_name_wins_when_the_library_has_both(void **state)
{
    dynlib lib = libm(m_symbols_both_exist, ARRAY_SIZE(m_symbols_both_exist), NULL);
    assert_int_equal(dynlib_load(&lib), 0);
    assert_true(m.root(0.0) == 0.0);
}

static const dynlib_symbol m_symbols_under_no_name[] = {
    {"sqrt", (void **)&m.root},
    {"sq_cos_v2", (void **)&m.cosine},
    {"sq_cos", (void **)&m.cosine},
};

static void test_function_missing_under_every_name_is_named_by_the_newest(void **state)
{
    dynlib lib = libm(m_symbols_under_no_name, ARRAY_SIZE(m_symbols_under_no_name), NULL);
    assert_int_equal(dynlib_load(&lib), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "libm.so.6 has no sq_cos_v2: install a newer libm "
                                        "(apt-get install libc6)");
    assert_null(m.root);
}

static const dynlib_symbol m_sqrt[] = {
    {"sqrt", (void **)&m.root},
};

static const dynlib_symbol m_optional[] = {
    {"sin", (void **)&m.sine},
    {"sq_no_such_function", (void **)&m.cosine},
};

static void test_missing_optional_function_leaves_its_slot_null(void **state)
{
    dynlib lib = libm(m_sqrt, ARRAY_SIZE(m_sqrt), NULL);
    m.cosine = cos; /* not NULL before: the load clears it */
    lib.optional = m_optional;
    lib.noptional = ARRAY_SIZE(m_optional);
    assert_int_equal(dynlib_load(&lib), 0);
    assert_true(m.root(16.0) == 4.0);
    assert_true(m.sine(0.0) == 0.0);
    assert_null(m.cosine);
}

static void test_refused_load_clears_the_optional_slots_too(void **state)
{
    dynlib lib = libm(m_symbols_and_one_more, ARRAY_SIZE(m_symbols_and_one_more), NULL);
    lib.optional = m_optional;
    lib.noptional = ARRAY_SIZE(m_optional);
    assert_int_equal(dynlib_load(&lib), SQ_EINVAL);
    assert_null(m.root);
    assert_null(m.sine);
}

/* Like NVML, which comes with a driver and no Debian package. */
static void test_library_without_a_package_gets_no_install_advice(void **state)
{
    dynlib absent = {.soname = "libsweepq-test-absent.so.9",
                     .what = "the absent library",
                     .symbols = m_symbols,
                     .nsymbols = ARRAY_SIZE(m_symbols)};
    assert_int_equal(dynlib_load(&absent), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "libsweepq-test-absent.so.9 not found");

    dynlib lib = libm(m_symbols_and_one_more, ARRAY_SIZE(m_symbols_and_one_more), NULL);
    lib.what = "the NVIDIA management library";
    lib.package = NULL;
    assert_int_equal(dynlib_load(&lib), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "libm.so.6 has no sq_no_such_function: not the NVIDIA "
                                        "management library");
}

static void test_missing_library_says_what_to_install(void **state)
{
    dynlib lib = {.soname = "libsweepq-test-absent.so.9",
                  .what = "the absent library",
                  .package = "libsweepq-absent9",
                  .symbols = m_symbols,
                  .nsymbols = ARRAY_SIZE(m_symbols)};
    const char *want = "libsweepq-test-absent.so.9 not found: install the absent library "
                       "(apt-get install libsweepq-absent9)";
    assert_int_equal(dynlib_load(&lib), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), want);
    sq_error_clear();
    assert_int_equal(dynlib_load(&lib), SQ_EINVAL); /* remembered, same words */
    assert_string_equal(sq_error_msg(), want);
}

static void test_missing_symbol_names_it_and_the_version_needed(void **state)
{
    dynlib lib = libm(m_symbols_and_one_more, ARRAY_SIZE(m_symbols_and_one_more), NULL);
    lib.minimum = "glibc 99";
    assert_int_equal(dynlib_load(&lib), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "libm.so.6 has no sq_no_such_function: install glibc 99 "
                                        "or later (apt-get install libc6)");
    assert_null(m.root); /* found, but cleared with the rest */
}

static void test_missing_symbol_without_a_minimum_asks_for_a_newer_one(void **state)
{
    dynlib lib = libm(m_symbols_and_one_more, ARRAY_SIZE(m_symbols_and_one_more), NULL);
    assert_int_equal(dynlib_load(&lib), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "libm.so.6 has no sq_no_such_function: install a newer "
                                        "libm (apt-get install libc6)");
}

static atomic_int starts;

static const char *start_counting(void)
{
    atomic_fetch_add(&starts, 1);
    return NULL;
}

static const char *start_refusing(void)
{
    atomic_fetch_add(&starts, 1);
    return "no entropy";
}

static void test_start_refusal_fails_the_load_once(void **state)
{
    atomic_store(&starts, 0);
    dynlib lib = libm(m_symbols, ARRAY_SIZE(m_symbols), start_refusing);
    assert_int_equal(dynlib_load(&lib), SQ_EINVAL);
    assert_string_equal(sq_error_msg(), "cannot start libm: no entropy");
    assert_null(m.root);
    assert_int_equal(dynlib_load(&lib), SQ_EINVAL);
    assert_int_equal(atomic_load(&starts), 1);
}

static void *load_from_thread(void *arg)
{
    dynlib *lib = arg;
    if (dynlib_load(lib) != 0 || m.root(9.0) != 3.0)
        return (void *)"failed";
    return NULL;
}

static void test_threads_loading_at_once_start_it_once(void **state)
{
    atomic_store(&starts, 0);
    dynlib lib = libm(m_symbols, ARRAY_SIZE(m_symbols), start_counting);
    pthread_t t[8];
    for (size_t i = 0; i < ARRAY_SIZE(t); i++)
        assert_int_equal(pthread_create(&t[i], NULL, load_from_thread, &lib), 0);
    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        void *res = NULL;
        pthread_join(t[i], &res);
        assert_null(res);
    }
    assert_int_equal(atomic_load(&starts), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_fills_every_slot_with_the_function),
        cmocka_unit_test(test_missing_library_says_what_to_install),
        cmocka_unit_test(test_missing_symbol_names_it_and_the_version_needed),
        cmocka_unit_test(test_missing_symbol_without_a_minimum_asks_for_a_newer_one),
        cmocka_unit_test(test_start_refusal_fails_the_load_once),
        cmocka_unit_test(test_threads_loading_at_once_start_it_once),
        cmocka_unit_test(test_older_name_stands_in_for_a_missing_newest_one),
        cmocka_unit_test(test_newest_name_wins_when_the_library_has_both),
        cmocka_unit_test(test_function_missing_under_every_name_is_named_by_the_newest),
        cmocka_unit_test(test_missing_optional_function_leaves_its_slot_null),
        cmocka_unit_test(test_refused_load_clears_the_optional_slots_too),
        cmocka_unit_test(test_library_without_a_package_gets_no_install_advice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
