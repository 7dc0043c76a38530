/*
 * diag.c - spec diagnostics: a list of file:line:col messages; see spec.h.
 *
 * Invariants: items[0..n) are owned; no two items have the same file, line,
 * column and message (a node shared through a YAML alias is reported once).
 */
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

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

bool spec_diags_add(spec_diags *d, const char *file, int line, int col, const char *message)
{
    for (size_t i = 0; i < d->n; i++) {
        const spec_diag *x = &d->items[i];
        if (x->line == line && x->col == col && same_str(x->file, file) &&
            !strcmp(x->message, message))
            return false;
    }
    XGROW(d->items, d->cap, d->n + 1);
    d->items[d->n].file = xstrdup(file);
    d->items[d->n].line = line;
    d->items[d->n].col = col;
    d->items[d->n].message = xstrdup(message);
    d->n++;
    return true;
}

static bool before(const spec_diag *a, const spec_diag *b)
{
    return a->line < b->line || (a->line == b->line && a->col < b->col);
}

/* Insertion sort: stable, and loads cap their diagnostics at a few hundred. */
void spec_diags_sort(spec_diags *d, size_t from)
{
    for (size_t i = from + 1; i < d->n; i++) {
        spec_diag x = d->items[i];
        size_t j = i;
        while (j > from && before(&x, &d->items[j - 1])) {
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = x;
    }
}

char *spec_diag_format(const spec_diag *d)
{
    if (d->line > 0)
        return xasprintf("%s:%d:%d: %s", d->file ? d->file : "<spec>", d->line, d->col, d->message);
    return xasprintf("%s: %s", d->file ? d->file : "<spec>", d->message);
}
