#!/usr/bin/env python3
"""trainer.py - the e2e tests' stand-in for a training script.

Takes W&B-style arguments (--name=value). Its own options are below; every
other numeric argument is a hyperparameter, and the "loss" it reports is
0.5 + the sum of (value - 2)^2 over them, so the best trial of a grid is the
one whose values are all 2. It reports, for each step, a line
"step=S loss=L acc=A" on stdout and/or a JSON line in $SWEEPQ_METRICS_FILE.

Options (all --name=value):
  --steps=N          metric steps (default 3)
  --sleep=S          seconds the whole run takes (default 0), spread over steps
  --metrics=WHERE    stdout (default), file, both, wandb (wandb-summary.json
                     under $WANDB_DIR), or none
  --ledger=PATH      on success, append the trial number to PATH (a line)
  --fail_attempts=K  attempts 1..K exit 1 after their steps
  --fail_if=NAME:V   exit 1 when hyperparameter NAME equals V
  --oom=1            print PyTorch's CUDA out-of-memory error and exit 1
  --ignore_term=1    ignore SIGTERM (so only SIGKILL stops it)
  --started=PATH     append "trial attempt pid" to PATH when it starts
  --dump_env=1       write the SWEEPQ_*, WANDB_*, CUDA_* and EXTRA_*
                     environment, cwd and argv to TRIAL_DIR/env.json
  --exit=N           exit with status N instead of 0 on success
  --record_gpu=1     write TRIAL_DIR/gpu-ATTEMPT.json: CUDA_VISIBLE_DEVICES,
                     CUDA_DEVICE_ORDER, and the start and end times (end is
                     null until it ends by itself; a killed trial leaves null)

Checkpointing: on SIGUSR1 it writes {"step": S} to
$SWEEPQ_TRIAL_DIR/checkpoint.json and exits 99. When SWEEPQ_RESUME=1 and a
checkpoint exists, it starts at that step and appends "attempt A resumed at
step S" to $SWEEPQ_TRIAL_DIR/resume.log.
"""
import json
import os
import signal
import sys
import time

OWN = {"steps", "sleep", "metrics", "ledger", "fail_attempts", "fail_if", "oom",
       "ignore_term", "started", "dump_env", "exit", "record_gpu"}


def parse_args(argv):
    opts, params = {}, {}
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg:
            continue
        name, value = arg[2:].split("=", 1)
        if name in OWN:
            opts[name] = value
        else:
            params[name] = value
    return opts, params


def as_number(text):
    try:
        return float(text)
    except ValueError:
        return None


def main():
    opts, params = parse_args(sys.argv[1:])
    env = os.environ
    trial = env.get("SWEEPQ_TRIAL", "0")
    attempt = int(env.get("SWEEPQ_ATTEMPT", "1"))
    trial_dir = env.get("SWEEPQ_TRIAL_DIR", ".")
    steps = int(opts.get("steps", "3"))
    pause = float(opts.get("sleep", "0")) / max(steps, 1)
    where = opts.get("metrics", "stdout")
    state = {"step": 0}

    if "started" in opts:
        with open(opts["started"], "a") as f:
            f.write(f"{trial} {attempt} {os.getpid()}\n")
    if opts.get("dump_env") == "1":
        keep = {k: v for k, v in env.items() if k.startswith(("SWEEPQ_", "WANDB_", "CUDA_", "EXTRA_"))}
        keep["cwd"] = os.getcwd()
        keep["argv"] = sys.argv[1:]
        with open(os.path.join(trial_dir, "env.json"), "w") as f:
            json.dump(keep, f, sort_keys=True)
    if opts.get("ignore_term") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def checkpoint(signum, frame):
        with open(os.path.join(trial_dir, "checkpoint.json"), "w") as f:
            json.dump({"step": state["step"]}, f)
        os._exit(99)

    signal.signal(signal.SIGUSR1, checkpoint)

    start = 0
    ckpt = os.path.join(trial_dir, "checkpoint.json")
    if env.get("SWEEPQ_RESUME") == "1" and os.path.exists(ckpt):
        with open(ckpt) as f:
            start = json.load(f)["step"]
        with open(os.path.join(trial_dir, "resume.log"), "a") as f:
            f.write(f"attempt {attempt} resumed at step {start}\n")

    values = [v for v in (as_number(p) for p in params.values()) if v is not None]
    final = 0.5 + sum((v - 2.0) ** 2 for v in values)
    metrics_file = env.get("SWEEPQ_METRICS_FILE")
    loss = acc = None
    for step in range(start + 1, steps + 1):
        state["step"] = step
        if pause:
            time.sleep(pause)
        loss = final + (steps - step) * 0.25
        acc = 1.0 / (1.0 + loss)
        if where in ("stdout", "both"):
            print(f"step={step} loss={loss:.6g} acc={acc:.6g}", flush=True)
        if where in ("file", "both") and metrics_file:
            with open(metrics_file, "a") as f:
                f.write(json.dumps({"step": step, "loss": loss, "acc": acc,
                                    "attempt": attempt}) + "\n")
    if where == "wandb" and loss is not None:
        run = os.path.join(env.get("WANDB_DIR", trial_dir), "wandb",
                           f"run-20240101_000000-{env.get('WANDB_RUN_ID', 'x')}", "files")
        os.makedirs(run, exist_ok=True)
        with open(os.path.join(run, "wandb-summary.json"), "w") as f:
            json.dump({"loss": loss, "acc": acc, "_runtime": 1.5, "_step": steps}, f)

    if opts.get("oom") == "1":
        print("RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB "
              "(GPU 0; 15.78 GiB total capacity)", file=sys.stderr, flush=True)
        return 1
    if attempt <= int(opts.get("fail_attempts", "0")):
        print(f"failing attempt {attempt} on purpose", file=sys.stderr, flush=True)
        return 1
    if "fail_if" in opts:
        name, value = opts["fail_if"].split(":", 1)
        if name in params and as_number(params[name]) == as_number(value):
            print(f"failing because {name}={value}", file=sys.stderr, flush=True)
            return 1

    # The success is recorded last, and a stop signal can no longer cut in
    # between the ledger line and the exit: a trial in the ledger exits 0.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    if "ledger" in opts:
        with open(opts["ledger"], "a") as f:
            f.write(f"{trial}\n")
    return int(opts.get("exit", "0"))


def record_gpu(start, end):
    trial_dir = os.environ.get("SWEEPQ_TRIAL_DIR", ".")
    attempt = os.environ.get("SWEEPQ_ATTEMPT", "1")
    path = os.path.join(trial_dir, f"gpu-{attempt}.json")
    with open(path + ".tmp", "w") as f:
        json.dump({"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
                   "order": os.environ.get("CUDA_DEVICE_ORDER"),
                   "start": start, "end": end}, f)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    recording = "--record_gpu=1" in sys.argv[1:]
    began = time.time()
    if recording:
        record_gpu(began, None)
    code = main()
    if recording:
        record_gpu(began, time.time())
    sys.exit(code)
