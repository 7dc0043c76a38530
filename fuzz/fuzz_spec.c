/*
 * fuzz_spec.c - libFuzzer harness for the spec loader: any bytes go through
 * spec_load_string; a spec that loads is counted and its first trial made.
 *
 * Invariants checked: the loader never crashes, leaks or hits undefined
 * behaviour (ASan/UBSan), a failed load leaves no spec and at least one
 * diagnostic, and a loaded spec's first trial can be made.
 */
#include "util/common.h"

#include "spec/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spec_diags d = SPEC_DIAGS_INIT;
    spec *s = NULL;
    int rc = spec_load_string(&s, (const char *)data, size, "fuzz.yaml", NULL, &d);
    if (rc == 0) {
        if (!s || d.n != 0)
            SQ_BUG("a spec loaded with diagnostics, or no spec came back");
        uint64_t n = spec_trial_count(s);
        if (n > 0) {
            json_t *params = NULL;
            if (spec_trial_params(s, 1, &params) == 0)
                json_decref(params);
        }
        char *canonical = json_dumps(s->canonical, JSON_COMPACT);
        free(canonical);
        spec_free(s);
    } else if (s || d.n == 0) {
        SQ_BUG("a failed load returned a spec or no diagnostic");
    }
    for (size_t i = 0; i < d.n; i++)
        free(spec_diag_format(&d.items[i]));
    spec_diags_release(&d);
    return 0;
}
