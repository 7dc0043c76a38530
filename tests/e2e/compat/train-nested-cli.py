"""The command line of W&B's own example for nested parameters
(wandb/sweeps examples/nested-params/train-nested-cli.py, MIT licence), its
argparse lines as they are there, and what wandb.init() does with
WANDB_SWEEP_PARAM_PATH (wandb/sdk/lib/config_util.py dict_from_config_file,
called from wandb_setup.py), since Debian does not package wandb. It writes
what it got to result.json in the working directory's trial directory.

Under `wandb agent` this example gets --optimizer={'lr': ..., 'nadam':
{'beta': ...}} and reads its values from wandb.config; dotted flags
(--optimizer.lr=...) make argparse exit 2.
"""
import argparse
import json
import os

import yaml

parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
parser.add_argument(
    "--use_jobs",
    action="store_true",
    help="Uses Jobs, an experimental feature of Launch",
)
parser.add_argument("--project", type=str, default="sweeps-examples", help="project")
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--batch_size", type=int, default=16)
parser.add_argument("--optimizer", type=str, default=None)


def dict_from_config_file(filename):
    """wandb's config_util.dict_from_config_file, must_exist=True."""
    if not os.path.exists(filename):
        raise SystemExit(f"config file {filename} doesn't exist")
    with open(filename) as conf_file:
        loaded = yaml.load(conf_file, Loader=yaml.SafeLoader)
    config_version = loaded.pop("wandb_version", None)
    if config_version is not None and config_version != 1:
        raise SystemExit("Unknown config version")
    return {k: v["value"] for k, v in loaded.items()}


if __name__ == "__main__":
    args = parser.parse_args()
    config = dict(vars(args))
    config.update(dict_from_config_file(os.environ["WANDB_SWEEP_PARAM_PATH"]))
    out = os.path.join(os.environ["SWEEPQ_TRIAL_DIR"], "result.json")
    with open(out, "w") as f:
        json.dump({"argv_optimizer": args.optimizer, "config": config,
                   "project": os.environ.get("WANDB_PROJECT")}, f)
