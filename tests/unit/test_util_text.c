/*
 * test_util_text.c - cutting on UTF-8 boundaries, printable text from
 * hostile bytes, metric names.
 */
#include "util/common.h"

#include "util/text.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

static void test_cut_never_splits_a_multibyte_character(void **state)
{
    /* "aé€😀": 1 + 2 + 3 + 4 bytes */
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    size_t len = strlen(s);
    static const size_t want[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10};
    for (size_t max = 0; max <= len; max++)
        assert_int_equal(text_utf8_cut(s, len, max), want[max]);
    assert_int_equal(text_utf8_cut(s, len, 200), len);
}

static void test_cut_of_199_ascii_then_a_two_byte_character_keeps_199(void **state)
{
    char buf[202];
    memset(buf, 'x', 199);
    buf[199] = '\xc3';
    buf[200] = '\xa9';
    buf[201] = '\0';
    assert_int_equal(text_utf8_cut(buf, 201, 200), 199);
}

static void test_printable_escapes_terminal_controls(void **state)
{
    const char *in = "\x1b]0;pwned\x07\x1b[2Jred\r\nnext\ttab\x7f";
    char *out = text_printable(in, strlen(in));
    assert_string_equal(out, "\\x1b]0;pwned\\x07\\x1b[2Jred\\x0d\\x0anext\\x09tab\\x7f");
    free(out);
}

static void test_printable_escapes_c1_and_invalid_bytes_and_keeps_utf8(void **state)
{
    const char *in = "\xc2\x9b"
                     "31m caf\xc3\xa9 \x9b \xc3 \xed\xa0\x80 \xc0\xaf";
    char *out = text_printable(in, strlen(in));
    assert_string_equal(out, "\\u009b31m caf\xc3\xa9 \\x9b \\xc3 \\xed\\xa0\\x80 \\xc0\\xaf");
    free(out);
    char *empty = text_printable("", 0);
    assert_string_equal(empty, "");
    free(empty);
    assert_null(text_printable_str(NULL));
}

static void test_metric_names_refuse_quotes_controls_and_empty(void **state)
{
    assert_true(text_is_metric_name("val.loss", 200));
    assert_true(text_is_metric_name("\xc3\xa9poch_acc/top-1", 200));
    static const char *const bad[] = {"",     "a\"b", "it's",     "a`b",   "a\\b",
                                      "a\nb", "a\tb", "\x1b[31m", "a\xc3", "\xc2\x85"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_false(text_is_metric_name(bad[i], 200));
    assert_false(text_is_metric_name(NULL, 200));
    assert_false(text_is_metric_name("abcd", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_never_splits_a_multibyte_character),
        cmocka_unit_test(test_cut_of_199_ascii_then_a_two_byte_character_keeps_199),
        cmocka_unit_test(test_printable_escapes_terminal_controls),
        cmocka_unit_test(test_printable_escapes_c1_and_invalid_bytes_and_keeps_utf8),
        cmocka_unit_test(test_metric_names_refuse_quotes_controls_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
