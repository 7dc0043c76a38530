#!/usr/bin/env python3
"""The conformance test: runs sweepq on every case in tests/compat/cases/
and compares what it does with what the reference implementations did
(NAME.expected.json, made by regenerate.py; see there how).

  valid     sweepq validate accepts the file exactly when the reference does
  runs      a grid's runs: each trial's arguments (argv after the program)
            equal the reference agent's, trial by trial, in order
  arg_names a random sweep: the arguments' names, in order, equal the
            reference agent's (values are draws: sweepq's generator is its
            own, docs/spec.md "Trials")

A case listed in differences.json is a documented, deliberate difference
(docs/spec.md says why): it is reported, not failed. Python's standard
library only; usage: check.py SWEEPQ_BINARY [CASE_SUBSTRING].
Exit status 0 when every case passes or is documented.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
# hpc-sweep-manager takes the script and interpreter from hsm_config.yaml
# beside the sweep file (its `hsm init` writes one); the cases get this one.
HSM_CONFIG = "paths:\n  python_interpreter: python3\n  train_script: train.py\n"


def sweepq(binary, *args, cwd):
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def check_case(binary, name, want, work):
    src = os.path.join(CASES, name + ".yaml")
    case_dir = os.path.join(work, name)
    os.makedirs(case_dir)
    path = os.path.join(case_dir, "sweep.yaml")
    shutil.copy(src, path)
    if want["dialect"] == "hsm":
        with open(os.path.join(case_dir, "hsm_config.yaml"), "w") as f:
            f.write(HSM_CONFIG)
    v = sweepq(binary, "validate", path, cwd=case_dir)
    valid = v.returncode == 0
    if valid != want["valid"]:
        why = want.get("why") or (v.stdout + v.stderr).strip().splitlines()[:1]
        return f"valid: sweepq {valid}, reference {want['valid']} ({why})"
    if not valid or ("runs" not in want and "arg_names" not in want):
        return None
    d = sweepq(binary, "create", path, "--dry-run", "--json", cwd=case_dir)
    if d.returncode != 0:
        return f"create --dry-run failed: {(d.stdout + d.stderr).strip()[:300]}"
    trials = json.loads(d.stdout)
    before, after = want["args_at"]
    got = [t["argv"][before:len(t["argv"]) - after] for t in trials]
    if "runs" in want:
        if got != want["runs"]:
            for i, (g, w) in enumerate(zip(got, want["runs"])):
                if g != w:
                    return f"run {i + 1}: sweepq {g}, reference {w}"
            return f"{len(got)} runs, reference {len(want['runs'])}"
        return None
    names = [a.split("=", 1)[0] for a in got[0]] if got else []
    if names != want["arg_names"]:
        return f"argument names: sweepq {names}, reference {want['arg_names']}"
    return None


def main():
    binary = os.path.abspath(sys.argv[1])
    only = sys.argv[2] if len(sys.argv) > 2 else ""
    documented = json.load(open(os.path.join(HERE, "differences.json")))
    names = sorted(f[:-len(".expected.json")] for f in os.listdir(CASES)
                   if f.endswith(".expected.json") and only in f)
    failed = passed = noted = 0
    with tempfile.TemporaryDirectory(prefix="sweepq-compat.") as work:
        for name in names:
            want = json.load(open(os.path.join(CASES, name + ".expected.json")))
            problem = check_case(binary, name, want, work)
            if problem and name in documented:
                noted += 1
                print(f"documented {name}: {documented[name]}")
            elif problem:
                failed += 1
                print(f"FAIL {name}: {problem}")
            else:
                passed += 1
    stale = sorted(set(documented) - set(names)) if not only else []
    for name in stale:
        print(f"FAIL differences.json names no case: {name}")
    print(f"{passed} passed, {noted} documented differences, {failed + len(stale)} failed, "
          f"of {len(names)} cases")
    return 1 if failed or stale else 0


if __name__ == "__main__":
    sys.exit(main())
