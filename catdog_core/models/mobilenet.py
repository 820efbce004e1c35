"""The MobileNetV2 base: loaded frozen from ImageNet or a local weights file, and the one frozen
copy per weights file that a process's models share (with the digest of the file it came from,
so a saved run can name its base's weights without writing them again).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict

from .. import config
from ..errors import WeightsUnavailable

BASE_NAME = "mobilenet_v2"


def load_base(weights: str | None = None, pretrained: bool = True):
    """Frozen MobileNetV2 without its top, from ImageNet or the local h5 file."""
    import keras

    if not pretrained:  # only for showing the architecture: no file, no download
        base = keras.applications.MobileNetV2(input_shape=config.IMG_SIZE + (3,), include_top=False,
                                              weights=None, name=BASE_NAME)
        base.trainable = False
        return base
    weights = weights or config.base_weights_setting()
    if weights != "imagenet" and not os.path.isfile(weights):
        raise WeightsUnavailable(
            f"The MobileNetV2 weights file {weights} does not exist; fix {config.ENV_BASE_WEIGHTS} "
            "or unset it to download the ImageNet weights."
        )
    try:
        base = keras.applications.MobileNetV2(input_shape=config.IMG_SIZE + (3,), include_top=False,
                                              weights=weights, name=BASE_NAME)
    except Exception as exc:
        where = "downloading the ImageNet weights" if weights == "imagenet" else f"reading {weights}"
        raise WeightsUnavailable(
            f"Could not load the MobileNetV2 base ({where} failed: {str(exc).splitlines()[0][:160]}). "
            f"Set {config.ENV_BASE_WEIGHTS} to a local mobilenet_v2 no-top .h5 weights file."
        ) from None
    base.trainable = False
    return base


_shared: "OrderedDict[str, object]" = OrderedDict()  # weights' content key -> a frozen base models share
_shared_lock = threading.Lock()
SHARED_KEYS = 3  # a base is 9 MB of weights and its graph; one base may go by two keys (share_base_as)


def shared_base(weights: str | None = None):
    """One frozen MobileNetV2 per weights file and process, reused by every model built to keep it
    frozen (a worker's tenth quick training does not rebuild and reload it: ~1 s saved each time).
    Never for fine-tuning, which changes the base's weights."""
    from ..features import weights_digest

    weights = weights or config.base_weights_setting()
    key = weights_digest(weights) if os.path.isfile(weights) else weights
    with _shared_lock:
        if key not in _shared:
            _shared[key] = load_base(weights)
            _sources[_shared[key]] = key
            while len(_shared) > SHARED_KEYS:
                _shared.popitem(last=False)
        _shared.move_to_end(key)
        return _shared[key]


_sources: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # a shared base -> its weights' digest


def base_source(base) -> str | None:
    """The digest of the weights file a shared, frozen base was loaded from (None for any other model):
    its weights are exactly that file's, so the run store can know them without saving them again."""
    return _sources.get(base)


def share_base_as(key: str, base) -> None:
    """Let shared_base answer `key` (the digest of a weights file holding exactly this base's
    weights, such as a saved run's) with this base, so loading that run builds no second one."""
    with _shared_lock:
        _shared[key] = base
        while len(_shared) > SHARED_KEYS:
            _shared.popitem(last=False)
