#!/usr/bin/env python3
"""train.py - a training loop that survives preemption (seed 002's
Checkpointer pattern, without W&B or PyTorch, so it runs anywhere).

  python3 train.py --lr=0.1 --epochs=20 --epoch_seconds=1

Each epoch "trains" for epoch_seconds and prints "epoch=E loss=L", which
sweepq reads as metrics. SIGUSR1 (sweepq forwards it when Slurm warns the
job before its time limit, or when the agent is asked to stop) only sets a
flag: the epoch in progress finishes, the state is saved to
$SWEEPQ_TRIAL_DIR/checkpoint.json (written to a temporary file, then
renamed, so a kill mid-write never leaves half a checkpoint) and the script
exits with status 75 (EX_TEMPFAIL). It must exit non-zero: exit 0 would
tell sweepq the trial finished. sweepq records the attempt as preempted
(no try used); 'sweepq submit --slurm' jobs then requeue themselves.

When the trial runs again, sweepq sets SWEEPQ_RESUME=1 (and the same
WANDB_RUN_ID), and the loop continues from the saved epoch. Every start
is appended to $SWEEPQ_TRIAL_DIR/starts.log as
"attempt=A resume=R start_epoch=E run_id=WANDB_RUN_ID", which the tests
read.
"""
import json
import os
import signal
import sys
import time


def parse_args(argv):
    args = {"lr": 0.1, "epochs": 20, "epoch_seconds": 1.0}
    for arg in argv:
        if arg.startswith("--") and "=" in arg:
            name, value = arg[2:].split("=", 1)
            args[name] = float(value)
    return args


def main():
    args = parse_args(sys.argv[1:])
    trial_dir = os.environ.get("SWEEPQ_TRIAL_DIR", ".")
    attempt = os.environ.get("SWEEPQ_ATTEMPT", "1")
    resume = os.environ.get("SWEEPQ_RESUME", "0")
    ckpt = os.path.join(trial_dir, "checkpoint.json")

    stop = {"asked": False}

    def on_usr1(signum, frame):
        stop["asked"] = True  # act at the end of the epoch, not mid-update

    signal.signal(signal.SIGUSR1, on_usr1)

    epoch, loss = 0, 1.0
    if resume == "1" and os.path.exists(ckpt):
        with open(ckpt) as f:
            state = json.load(f)
        epoch, loss = state["epoch"], state["loss"]
    with open(os.path.join(trial_dir, "starts.log"), "a") as f:
        run_id = os.environ.get("WANDB_RUN_ID", "")
        f.write(f"attempt={attempt} resume={resume} start_epoch={epoch} run_id={run_id}\n")
    print(f"attempt {attempt}: starting at epoch {epoch}", "(resumed)" if resume == "1" else "", flush=True)

    while epoch < int(args["epochs"]):
        end = time.monotonic() + args["epoch_seconds"]
        while time.monotonic() < end:  # sleep survives the signal's EINTR
            time.sleep(max(0.0, min(0.1, end - time.monotonic())))
        epoch += 1
        loss = loss * (1.0 - min(args["lr"], 0.9) * 0.5) + 0.01
        print(f"epoch={epoch} loss={loss:.6f}", flush=True)
        if stop["asked"]:
            tmp = ckpt + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"epoch": epoch, "loss": loss}, f)
            os.replace(tmp, ckpt)
            print(f"checkpointed at epoch {epoch}; exiting to be resumed", flush=True)
            sys.exit(75)
    print(f"done: loss={loss:.6f}", flush=True)


if __name__ == "__main__":
    main()
