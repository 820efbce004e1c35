"""A training worker, as the queue starts one: `python -m catdog_core.jobs --slot N [--idle S] [--warm]`;
or, as a job starts one beside its decode, the frozen base's conversion: `--convert WEIGHTS`.

Its own entry point, so a worker process loads the jobs package and what a job needs, never the
command line's parser and commands (`catdog worker` stays the way a person starts, stops or
lists workers).
"""

import argparse
import sys

from .loop import main

if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m catdog_core.jobs", description="train queued jobs")
    p.add_argument("--slot", default="0", help="this worker's slot (one worker per slot and home)")
    p.add_argument("--idle", type=float, default=None, help="seconds to wait for new jobs before exiting")
    p.add_argument("--warm", action="store_true", help="warm up (decode the default data, cache its features) first")
    p.add_argument("--convert", metavar="WEIGHTS", help="convert the frozen base for these weights, then exit")
    args = p.parse_args()
    if args.convert:  # built and converted unless done: the job that started this finds the file
        from .. import features
        from ..models import build_features

        if not features.is_converted(args.convert):
            model = build_features(args.convert)
            features.ensure_converted(features.base_key(model, args.convert), model, args.convert)
        sys.exit(0)
    sys.exit(main(args.slot, args.idle, warm=args.warm))
