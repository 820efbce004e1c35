"""The machine's floors and the cold quick model measured against them in the same run.

    python benchmarks/bench_floor.py --data DIR --weights H5 [--vs BEFORE] [--floors-only]

Prints the floors (benchmarks/floor.py), then for this checkout (and BEFORE, another checkout
of this repository, in the same run):

  cold     `catdog train --recipe transfer --quick`, new process, empty home: seconds and the
           ratio to the cold floor (import + decode + one forward pass over every photo)
  again    the same command again in the same home: seconds over the import floor
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import floor  # noqa: E402
from bench_quick import command_rows  # noqa: E402


def rows(app: Path, data: str, weights: str, floors: floor.Floors) -> dict:
    got = command_rows(app, data, weights)
    print(f"{app}:\n"
          f"  cold quick (CLI, empty home)  {got['cold']:6.1f} s  val {got['cold_val']:.3f}  "
          f"{got['cold'] / floors.cold_s:4.2f}x the cold floor\n"
          f"  again (same home)             {got['again']:6.1f} s  "
          f"import + {got['again'] - floors.import_s:.1f} s", flush=True)
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the unpacked cats_and_dogs_filtered folder")
    parser.add_argument("--weights", required=True, help="MobileNetV2 no-top ImageNet weights (.h5)")
    parser.add_argument("--vs", type=Path, help="another checkout of this repository, run in the same run")
    parser.add_argument("--floors-only", action="store_true")
    args = parser.parse_args()
    floors = floor.measure(args.data, args.weights)
    print(floors.table(), flush=True)
    result = {"floors": floor.as_dict(floors)}
    if not args.floors_only:
        for app in [REPO, *([args.vs] if args.vs else [])]:
            result[str(app)] = rows(app, args.data, args.weights, floors)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
