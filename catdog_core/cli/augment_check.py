"""`catdog augment-check`: does augmentation help the transfer head? Heads trained with and
without it over several seeds, for one setting or at each value of a --sweep."""

from __future__ import annotations

import json
import time

from .progress import Bar, pct


def cmd_augment_check(args) -> int:
    """Does augmentation help the transfer head? With --sweep, at each of --values."""
    from ..lessons import augcheck
    from .. import dataset

    plan = _plan(args)
    bar = Bar()
    data = dataset.load_dataset(args.data, progress=bar)
    started = time.perf_counter()
    found = augcheck.check_many(data, plan, variants=args.variants, seeds=args.seeds,
                                progress=bar)
    seconds = time.perf_counter() - started
    bar.line(f"{'setting':<32} {'with':>15} {'without':>15}  verdict")
    for settings_, result in zip(plan, found):
        shown = f"{args.sweep} {getattr(settings_, args.sweep)}" if args.sweep else augment_text(settings_)
        bar.line(f"{shown[:32]:<32} {pct(result.with_mean):>8} ± {result.with_spread * 100:4.1f} "
                 f"{pct(result.without_mean):>8} ± {result.without_spread * 100:4.1f}  {result.verdict}")
    bar.line(f"{data.source.description}: {len(data.train)} training photos × {args.variants} copies, "
             f"{args.seeds} seeds, {len(data.validation)} validation photos; {seconds:.1f} s")
    if args.json:
        rows = [{**r.summary(), "settings": r.settings} for r in found]
        last = {**rows[-1], "seconds": round(seconds, 2)}
        if args.sweep:
            last["sweep"] = [{"value": getattr(p, args.sweep), **r} for p, r in zip(plan, rows)]
        print(json.dumps(last))
    return 0


def _plan(args) -> list:
    """The settings to measure, checked before the dataset is decoded: one, or one per --values."""
    from ..lessons import augcheck
    from ..augment import AugmentSettings
    from ..errors import InvalidSettings

    settings = AugmentSettings(flip=args.flip, rotation=args.rotation, zoom=args.zoom, translation=args.translation,
                               contrast=args.contrast, brightness=args.brightness, seed=args.seed)
    if args.sweep:
        if not args.values:
            raise InvalidSettings("--sweep needs --values, e.g. --sweep rotation --values 0 0.1 0.2 0.3.")
        values = args.values if args.sweep == "flip" else [_number(v, "--values") for v in args.values]
        return augcheck.sweep_values(settings, args.sweep, values)
    if settings.is_identity:
        raise InvalidSettings("These settings change nothing: give a flip or a rotation, zoom, ... above 0.")
    return [settings]


def augment_text(settings) -> str:
    from ..augment import describe

    return describe(settings)


def _number(text: str, what: str) -> float:
    from ..errors import InvalidSettings

    try:
        return float(text)
    except ValueError:
        raise InvalidSettings(f"{what} takes numbers here, not {text[:40]!r}.") from None
