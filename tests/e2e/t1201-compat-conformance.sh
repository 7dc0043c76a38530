#!/usr/bin/env bash
# t1201-compat-conformance: sweepq against the reference implementations
# (issue 16): every case in tests/compat/cases/ (W&B's example and test
# configs, sweepq's edge cases, every sweep file hpc-sweep-manager ships)
# is validated and expanded by sweepq and compared with what W&B's sweeps
# library and agent code, or hpc-sweep-manager's expansion, did with it
# (NAME.expected.json, made by tests/compat/regenerate.py). A case that
# differs must be listed in tests/compat/differences.json with its reason.
. "$(dirname "$0")/lib.sh"

expect 'every conformance case matches the references or is a documented difference' '
    "$PYTHON" "$SQ_SOURCE_DIR/tests/compat/check.py" "$SWEEPQ" >check.out 2>&1 ||
        { sed "s/^/# /" check.out; false; }
'

expect 'the suite holds at least 150 W&B configs and every hpc-sweep-manager file' '
    test "$(ls "$SQ_SOURCE_DIR"/tests/compat/cases/wandb-*.yaml "$SQ_SOURCE_DIR"/tests/compat/cases/edge-*.yaml | wc -l)" -ge 150 &&
    test "$(ls "$SQ_SOURCE_DIR"/tests/compat/cases/hsm-*.yaml | wc -l)" -ge 2 &&
    tail -1 check.out | grep -q " 0 failed"
'

finish
