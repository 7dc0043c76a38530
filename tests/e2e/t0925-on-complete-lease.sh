#!/bin/bash
# on_complete runs exactly once to success: it is a lease like a trial's.
# A runner killed (-9) mid-hook leaves the completion to its lease; the
# next `run` wins it once the lease expires and runs the hook again. A hook
# that fails is run again after a backoff; only an exit 0 records it done.
. "$(dirname "$0")/lib.sh"

cat >hook.sh <<'SH'
# First call: hang (the test kills its runner); second: fail; third: succeed.
n=$(($(cat calls 2>/dev/null || echo 0) + 1))
echo $n >calls
echo "$SWEEPQ_SWEEP $n" >>started
case $n in
1) exec sleep 600 ;;
2) exit 3 ;;
esac
echo "$SWEEPQ_SWEEP $n" >>done
SH

cat >hooked.yaml <<EOF
name: hooked
method: grid
command: ["true"]
lease_ttl: 2s
max_attempts: 5
on_complete: "sh $TEST_DIR/hook.sh"
parameters:
  x: {values: [1, 2]}
EOF

expect 'a run killed (-9) while its on_complete runs' '
    bg sq run hooked.yaml -j 2 >run1.out 2>run1.err &&
    RUN1=$! &&
    wait_for 60 "test -s started" &&
    kill -9 $RUN1 && { wait $RUN1 2>/dev/null; true; } &&
    test ! -e done
'

expect 'the next run wins the completion after its lease, retries a failure, records one success' '
    timeout 120 "$SWEEPQ" run hooked.yaml -j 2 >run2.out 2>run2.err &&
    test "$(cat calls)" = 3 &&
    test "$(cat done)" = "hooked 3" &&
    grep -q "on_complete of sweep .hooked. failed" run2.err
'

expect 'done is recorded: a third run does not run the hook again' '
    sq run hooked.yaml -j 2 >run3.out 2>run3.err &&
    test "$(cat calls)" = 3 &&
    test "$(wc -l <done)" = 1
'

finish
