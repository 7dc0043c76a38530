#!/usr/bin/python3
"""Makes the conformance suite's cases and expected outputs by running the
reference implementations themselves:

  - W&B's sweeps library (github.com/wandb/sweeps, src/sweeps): SweepConfig
    decides whether a config is valid; grid_search_next_runs lists a grid's
    runs, one at a time, as W&B's controller asks for them;
  - W&B's agent argument code (github.com/wandb/wandb,
    wandb/sdk/launch/sweeps/utils.py: create_sweep_command_args), the
    function `wandb agent` builds ${args} with, taken from the file and run
    as it is;
  - hpc-sweep-manager (github.com/GabrielBena/HPC-Sweep-Manager,
    core/common/param_generator.py): ParameterGenerator's expansion and
    create_command_line_args.

One step is modelled, not run: W&B's server stores each run's config as a
JSON object and hands it to the agent with its keys sorted (a Go map
through encoding/json); here that is json.loads(json.dumps(config,
sort_keys=True)).

Usage (Debian 12: python3-yaml python3-numpy python3-scipy
python3-jsonschema python3-pydantic, see scripts/install-deps):

    git clone https://github.com/wandb/sweeps /tmp/refs/sweeps
    git clone https://github.com/GabrielBena/HPC-Sweep-Manager /tmp/refs/hsm
    (wandb/wandb: only wandb/sdk/launch/sweeps/utils.py is needed)
    tests/compat/regenerate.py --sweeps /tmp/refs/sweeps \
        --wandb-utils /tmp/refs/wandb/wandb/sdk/launch/sweeps/utils.py \
        --hsm /tmp/refs/hsm

It rewrites tests/compat/cases/: NAME.yaml (the input, as a user would
write it) and NAME.expected.json (what the references did with it). The
test (check.py, run by tests/e2e/t1201-compat-conformance.sh) needs none of
the references. stand-ins/ holds the three small modules Debian lacks:
jsonref (one function), pydantic.AliasChoices (pydantic 2 only) and an
empty sklearn (bayes search only, never run here).
"""
import argparse
import ast
import glob
import json
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
MAX_RUNS = 300  # a grid's runs listed at most (every case is smaller)


# ---------------------------------------------------------------- W&B side


def load_wandb(sweeps_dir, utils_path):
    sys.path[:0] = [os.path.join(HERE, "stand-ins"), os.path.join(sweeps_dir, "src")]
    import pydantic_shim  # noqa: F401  (before sweeps imports pydantic)
    import sweeps  # noqa: F401
    from sweeps.config import SweepConfig
    from sweeps.grid_search import grid_search_next_runs
    from sweeps.random_search import random_search_next_runs
    from sweeps.run import SweepRun, RunState

    # create_sweep_command_args, exactly as wandb's file has it
    tree = ast.parse(open(utils_path).read())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef)
              and n.name == "create_sweep_command_args")
    scope = {"json": json, "Any": object}
    exec(compile("from __future__ import annotations\n" + ast.unparse(fn),
                 utils_path, "exec"), scope)
    return SweepConfig, grid_search_next_runs, random_search_next_runs, SweepRun, RunState, \
        scope["create_sweep_command_args"]


def wandb_expected(cfg, refs):
    SweepConfig, grid_next, random_next, SweepRun, RunState, command_args = refs
    out = {"dialect": "wandb", "method": cfg.get("method") if isinstance(cfg, dict) else None}
    try:
        SweepConfig(cfg)  # validation only: its filled copy drops nested parameters
    except Exception as e:  # jsonschema.ValidationError, ValueError
        out["valid"] = False
        out["why"] = str(e).splitlines()[0][:200]
        return out
    out["valid"] = True

    def agent_args(run_config):
        # the modelled server step (numpy scalars become JSON numbers there)
        served = json.loads(json.dumps(run_config, sort_keys=True, default=lambda o: o.item()))
        return command_args({"args": served})["args"]

    # Where ${args} sits in the command: the agent puts the other items
    # around it (the check compares the arguments only).
    command = cfg.get("command") or ["${env}", "${interpreter}", "${program}", "${args}"]
    if "${args}" in command:
        at = command.index("${args}")
        out["args_at"] = [at, len(command) - at - 1]

    # The search runs on the config as written, as W&B's next_runs does
    # (validate=False, its default).
    config = cfg
    method = config["method"]
    try:
        if method == "grid" and "args_at" in out:
            runs, listed = [], []
            # the server stops a sweep at run_cap (the library does not)
            cap = min(MAX_RUNS, config.get("run_cap") or MAX_RUNS)
            while len(runs) < cap:
                nxt = grid_next(runs, config)[0]
                if nxt is None:
                    break
                nxt.state = RunState.finished
                runs.append(nxt)
                listed.append(agent_args(nxt.config))
            out["runs"] = listed
        elif method == "random" and "args_at" in out:
            run = random_next(config)[0]
            out["arg_names"] = [a.split("=", 1)[0] for a in agent_args(run.config)]
    except Exception as e:  # W&B's search refuses the config
        out["valid"] = False
        out["why"] = (type(e).__name__ + ": " + str(e)).splitlines()[0][:200]
        out.pop("runs", None)
    return out


def wandb_sources(sweeps_dir):
    """(name, config) from W&B's example files and its tests' config dicts."""
    found = []
    for path in sorted(glob.glob(os.path.join(sweeps_dir, "examples", "**", "*.yaml"),
                                 recursive=True)):
        cfg = yaml.safe_load(open(path))
        if isinstance(cfg, dict) and ("parameters" in cfg or "method" in cfg):
            rel = os.path.relpath(path, sweeps_dir)
            found.append(("wandb-" + re.sub(r"[^A-Za-z0-9]+", "-", rel[:-5]), cfg))
    for path in sorted(glob.glob(os.path.join(sweeps_dir, "tests", "*.py"))):
        tree = ast.parse(open(path).read())
        base = os.path.basename(path)[:-3]
        k = 0
        for node in ast.walk(tree):
            if not isinstance(node, ast.Dict):
                continue
            keys = [x.value for x in node.keys if isinstance(x, ast.Constant)]
            if "method" not in keys or "parameters" not in keys:
                continue
            try:
                cfg = ast.literal_eval(node)
            except ValueError:
                continue  # built from variables: not a literal config
            k += 1
            found.append((f"wandb-{base}-{k:02d}", cfg))
    return found


def edge_cases():
    """sweepq's own cases: nesting, mixed types, duplicates, every
    distribution, validation edges."""
    p = lambda **kw: kw  # noqa: E731
    cases = {
        "order-sorted": {"method": "grid", "parameters": {"z": p(values=[1, 2]), "a": p(values=["x", "y"]), "M": p(value=3)}},
        "order-underscore-digits": {"method": "grid", "parameters": {"b_1": p(value=1), "b1": p(value=2), "B": p(value=3), "_a": p(value=4), "a-b": p(value=5), "a.b": p(value=6)}},
        "order-run-cap": {"method": "grid", "run_cap": 3, "parameters": {"z": p(values=[1, 2]), "a": p(values=[1, 2])}},
        "nested-one": {"method": "grid", "parameters": {"optimizer": {"parameters": {"name": p(value="adam"), "lr": p(values=[0.001, 0.01])}}}},
        "nested-deep": {"method": "grid", "parameters": {"a": {"parameters": {"b": {"parameters": {"c": p(values=[1, 2])}}, "a": p(value=0)}}, "z": p(value=True)}},
        "nested-and-flat": {"method": "grid", "parameters": {"opt": {"parameters": {"z": p(value=None), "b": p(values=[1.5, 2])}}, "epochs": p(value=3), "lr": p(values=[0.1])}},
        "nested-random": {"method": "random", "parameters": {"opt": {"parameters": {"lr": p(min=0.0, max=1.0)}}, "b": p(value=1)}},
        "dup-int-float": {"method": "grid", "parameters": {"x": p(values=[1, 1.0, 2, 2.0, 3])}},
        "dup-strings-numbers": {"method": "grid", "parameters": {"x": p(values=["1", 1, "1", True, 1.0])}},
        "dup-lists": {"method": "grid", "parameters": {"x": p(values=[[1, 2], [1, 2], [2, 1], [1.0, 2]])}},
        "dup-dicts": {"method": "grid", "parameters": {"x": p(values=[{"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 1}]), "y": p(values=[0, 0])}},
        "dup-null": {"method": "grid", "parameters": {"x": p(values=[None, None, 0])}},
        "dup-big-float": {"method": "grid", "parameters": {"x": p(values=[3e6, 3000000, 1e300])}},
        "mixed-types": {"method": "grid", "parameters": {"x": p(values=[1, 2.5, "s", True, False, None, [1, "a"], {"k": [None]}])}},
        "floats-repr": {"method": "grid", "parameters": {"x": p(values=[0.1, 1e-05, 1e16, 1.5e-7, 123456789.125, 0.30000000000000004, -0.0, 100.0])}},
        "strings-odd": {"method": "grid", "parameters": {"x": p(values=["a b", "it's", 'say "hi"', "caf\u00e9", "", "--flag", "a=b"])}},
        "booleans": {"method": "grid", "parameters": {"flag": p(values=[True, False]), "n": p(value=1)}},
        "int-uniform-grid": {"method": "grid", "parameters": {"n": p(min=-2, max=3)}},
        "q-uniform-grid-int": {"method": "grid", "parameters": {"n": p(distribution="q_uniform", min=0, max=10, q=3)}},
        "q-uniform-grid-float": {"method": "grid", "parameters": {"x": p(distribution="q_uniform", min=0.0, max=1.0, q=0.25)}},
        "constant-only": {"method": "grid", "parameters": {"a": p(value="x"), "b": p(value=[1, 2])}},
        "grid-uniform-refused": {"method": "grid", "parameters": {"x": p(min=0.0, max=1.0)}},
        "grid-probabilities-refused": {"method": "grid", "parameters": {"x": p(values=[1, 2], probabilities=[0.5, 0.5])}},
        "grid-no-parameters": {"method": "grid", "parameters": {}},
        "no-parameters": {"method": "random"},
        "no-method": {"parameters": {"x": p(value=1)}},
        "method-unknown": {"method": "hill", "parameters": {"x": p(value=1)}},
        "method-custom": {"method": "custom", "parameters": {"x": p(values=[1, 2])}},
        "method-bayes": {"method": "bayes", "metric": {"name": "loss", "goal": "minimize"}, "parameters": {"x": p(min=0.0, max=1.0)}},
        "min-max-ints": {"method": "random", "parameters": {"n": p(min=1, max=8)}},
        "min-max-floats": {"method": "random", "parameters": {"x": p(min=0.1, max=0.5)}},
        "min-max-mixed": {"method": "random", "parameters": {"x": p(min=1, max=2.5)}},
        "min-equals-max": {"method": "random", "parameters": {"x": p(min=1, max=1)}},
        "min-above-max": {"method": "random", "parameters": {"x": p(min=2.0, max=1.0)}},
        "min-only": {"method": "random", "parameters": {"x": p(min=1)}},
        "prob-sum-ok": {"method": "random", "parameters": {"x": p(values=[1, 2, 3], probabilities=[0.2, 0.3, 0.5])}},
        "prob-sum-off": {"method": "random", "parameters": {"x": p(values=[1, 2], probabilities=[0.5, 0.6])}},
        "prob-sum-close": {"method": "random", "parameters": {"x": p(values=[1, 2, 3], probabilities=[0.333333, 0.333333, 0.333333])}},
        "prob-count-off": {"method": "random", "parameters": {"x": p(values=[1, 2], probabilities=[1.0])}},
        "prob-categorical-dist": {"method": "random", "parameters": {"x": p(distribution="categorical", values=[1, 2], probabilities=[0.5, 0.5])}},
        "prob-categorical-w-prob": {"method": "random", "parameters": {"x": p(distribution="categorical_w_probabilities", values=[1, 2], probabilities=[0.5, 0.5])}},
        "value-and-values": {"method": "grid", "parameters": {"x": p(value=1, values=[1, 2])}},
        "unknown-param-key": {"method": "grid", "parameters": {"x": p(values=[1], colour="red")}},
        "unknown-top-key": {"method": "grid", "colour": 1, "parameters": {"x": p(value=1)}},
        "param-not-dict": {"method": "grid", "parameters": {"x": 5}},
        "run-cap-zero": {"method": "random", "run_cap": 0, "parameters": {"x": p(value=1)}},
        "metric-goal-bad": {"method": "random", "metric": {"name": "l", "goal": "up"}, "parameters": {"x": p(value=1)}},
        "metric-no-name": {"method": "random", "metric": {"goal": "minimize"}, "parameters": {"x": p(value=1)}},
        "early-terminate-ok": {"method": "random", "early_terminate": {"type": "hyperband", "min_iter": 3}, "parameters": {"x": p(value=1)}},
        "early-terminate-bad-type": {"method": "random", "early_terminate": {"type": "median"}, "parameters": {"x": p(value=1)}},
        "early-terminate-eta-low": {"method": "random", "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 1}, "parameters": {"x": p(value=1)}},
        "command-list": {"method": "grid", "command": ["${env}", "python3", "${program}", "${args}"], "parameters": {"x": p(value=1)}},
        "name-and-description": {"method": "grid", "name": "my sweep", "description": "d", "parameters": {"x": p(value=1)}},
        "param-name-bad": {"method": "grid", "parameters": {"1x": p(value=1)}},
        "param-name-dash-dot": {"method": "grid", "parameters": {"a-b.c": p(values=[1, 2])}},
    }
    dists = {
        "uniform": p(min=0.0, max=1.0), "int_uniform": p(min=1, max=5),
        "q_uniform": p(min=0.0, max=1.0, q=0.1), "log_uniform": p(min=-5.0, max=0.0),
        "log_uniform_values": p(min=1e-5, max=1.0), "q_log_uniform": p(min=0.0, max=5.0, q=1),
        "q_log_uniform_values": p(min=1.0, max=100.0, q=1),
        "inv_log_uniform": p(min=0.0, max=5.0), "inv_log_uniform_values": p(min=1.0, max=100.0),
        "normal": p(mu=0.0, sigma=1.0), "q_normal": p(mu=0.0, sigma=1.0, q=0.5),
        "log_normal": p(mu=0.0, sigma=1.0), "q_log_normal": p(mu=0.0, sigma=1.0, q=1),
        "beta": p(a=2.0, b=5.0), "q_beta": p(a=2.0, b=5.0, q=0.1),
        "categorical": p(values=[1, 2]), "constant": p(value=7),
    }
    for name, keys in dists.items():
        cases[f"dist-{name.replace('_', '-')}"] = {
            "method": "random", "parameters": {"x": dict(distribution=name, **keys)}}
        cases[f"dist-{name.replace('_', '-')}-defaults"] = {
            "method": "random", "parameters": {"x": {"distribution": name}}}
    cases["dist-log-values-zero-min"] = {"method": "random", "parameters": {"x": p(distribution="log_uniform_values", min=0.0, max=1.0)}}
    cases["dist-sigma-negative"] = {"method": "random", "parameters": {"x": p(distribution="normal", sigma=-1.0)}}
    cases["dist-q-zero"] = {"method": "random", "parameters": {"x": p(distribution="q_uniform", min=0.0, max=1.0, q=0)}}
    cases["dist-extra-key"] = {"method": "random", "parameters": {"x": p(distribution="uniform", min=0.0, max=1.0, q=0.1)}}
    cases["dist-unknown"] = {"method": "random", "parameters": {"x": p(distribution="zipf", min=0, max=1)}}
    return [("edge-" + k, v) for k, v in cases.items()]


# ---------------------------------------------------------------- hsm side


def load_hsm(hsm_dir):
    path = os.path.join(hsm_dir, "src", "hpc_sweep_manager", "core", "common")
    scope = {}
    exec(compile(open(os.path.join(path, "param_generator.py")).read(),
                 "param_generator.py", "exec"), scope)
    # SweepConfig.from_dict, as config.py has it (config.py itself also
    # needs omegaconf, which Debian does not package)
    tree = ast.parse(open(os.path.join(path, "config.py")).read())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SweepConfig")
    cls.body = [n for n in cls.body if not isinstance(n, ast.FunctionDef)
                or n.name in ("from_dict",)]
    from dataclasses import dataclass, field  # noqa: F401
    from typing import Any, Dict, List, Union  # noqa: F401
    ns = dict(dataclass=dataclass, field=field, Any=Any, Dict=Dict, List=List,
              Union=Union, Path=None)
    exec(compile(ast.Module(body=[cls], type_ignores=[]), "config.py", "exec"), ns)
    return ns["SweepConfig"], scope["ParameterGenerator"]


def hsm_expected(cfg, refs):
    SweepConfig, ParameterGenerator = refs
    out = {"dialect": "hsm", "args_at": [3, 0]}
    try:
        gen = ParameterGenerator(SweepConfig.from_dict(cfg))
        combos = gen.generate_combinations()
        # its quoting ("key=a b") is for the shell line the args are
        # joined into; the argument the program gets is what is inside
        unq = lambda a: a[1:-1] if len(a) > 1 and a[0] == a[-1] == '"' else a  # noqa: E731
        out["runs"] = [[unq(a) for a in gen.create_command_line_args(c)] for c in combos][:MAX_RUNS]
        out["valid"] = True
    except Exception as e:
        out["valid"] = False
        out["why"] = (type(e).__name__ + ": " + str(e))[:200]
    return out


def hsm_sources(hsm_dir):
    """Every sweep file hpc-sweep-manager ships: its example files and each
    YAML block of its docs that holds a grid or paired list."""
    found = []
    for path in sorted(glob.glob(os.path.join(hsm_dir, "examples", "*.yaml"))):
        found.append(("hsm-" + os.path.basename(path)[:-5], open(path).read()))
    docs = sorted(glob.glob(os.path.join(hsm_dir, "*.md")) +
                  glob.glob(os.path.join(hsm_dir, "docs", "**", "*.md"), recursive=True))
    for path in docs:
        text = open(path).read()
        rel = re.sub(r"[^A-Za-z0-9]+", "-", os.path.relpath(path, hsm_dir)[:-3]).strip("-")
        for k, block in enumerate(re.findall(r"```ya?ml\n(.*?)```", text, re.S), 1):
            try:
                cfg = yaml.safe_load(block)
            except yaml.YAMLError:
                continue
            if isinstance(cfg, dict) and (
                    "grid" in cfg or "paired" in cfg or isinstance(cfg.get("sweep"), dict)):
                found.append((f"hsm-{rel}-{k:02d}", block))
    return found


# ---------------------------------------------------------------- main


def tupleless(v):
    if isinstance(v, (list, tuple)):
        return [tupleless(x) for x in v]
    if isinstance(v, dict):
        return {k: tupleless(x) for k, x in v.items()}
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweeps", required=True)
    ap.add_argument("--wandb-utils", required=True)
    ap.add_argument("--hsm", required=True)
    args = ap.parse_args()
    for old in glob.glob(os.path.join(CASES, "*")):
        os.remove(old)
    os.makedirs(CASES, exist_ok=True)

    wrefs = load_wandb(args.sweeps, args.wandb_utils)
    seen, n = set(), 0
    for name, cfg in wandb_sources(args.sweeps) + edge_cases():
        cfg = tupleless(cfg)
        if isinstance(cfg, dict) and "program" not in cfg:
            # `wandb agent` needs a program to run; the library does not
            cfg = {"program": "train.py", **cfg}
        text = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)
        if text in seen:
            continue
        seen.add(text)
        expected = wandb_expected(yaml.safe_load(text), wrefs)
        write_case(name, text, expected)
        n += 1
    hrefs = load_hsm(args.hsm)
    for name, text in hsm_sources(args.hsm):
        write_case(name, text, hsm_expected(yaml.safe_load(text), hrefs))
        n += 1
    print(f"{n} cases written to {CASES}")


def write_case(name, text, expected):
    with open(os.path.join(CASES, name + ".yaml"), "w") as f:
        f.write(text)
    with open(os.path.join(CASES, name + ".expected.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
