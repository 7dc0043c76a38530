/* diag.c - spec diagnostics: a list of file:line:col messages; see spec.h. */
#include "spec/spec.h"
#include "util/common.h"

void spec_diags_release(spec_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].file);
        free(d->items[i].message);
    }
    free(d->items);
    d->items = NULL;
    d->n = d->cap = 0;
}

char *spec_diag_format(const spec_diag *d)
{
    if (d->line > 0)
        return xasprintf("%s:%d:%d: %s", d->file ? d->file : "<spec>", d->line, d->col,
                         d->message);
    return xasprintf("%s: %s", d->file ? d->file : "<spec>", d->message);
}
