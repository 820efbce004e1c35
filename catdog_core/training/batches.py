"""The batches `fit` trains and validates on, in one seeded order whatever the path: shuffled
photos (or their augmented features) as a Keras PyDataset, cached features as one tf.data
pipeline, the variant bank an augmented run on a frozen base draws from after its first epochs,
and cached features to validate on. Keras and TensorFlow load only when a run asks for them."""

from __future__ import annotations

import math

import numpy as np

VAL_BATCH = 1024  # validation features per step: one step an epoch for the post's data


def epoch_order(seed: int, epoch: int, count: int) -> np.ndarray:
    """The order of the training photos in 0-based `epoch`: from the seed and the epoch only."""
    return np.random.default_rng((seed, epoch)).permutation(count)


class _ShuffledBatches:
    """The methods of shuffled_batches' keras.utils.PyDataset, mixed into it when Keras is loaded."""

    def __init__(self, make_inputs, labels: np.ndarray, batch_size: int, seed: int, first_epoch: int):
        super().__init__()
        self.make_inputs, self.labels, self.batch_size, self.seed = make_inputs, labels, batch_size, seed
        self.epoch = first_epoch
        self.order = epoch_order(seed, first_epoch, len(labels))

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __getitem__(self, i: int):
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        return self.make_inputs(idx, self.epoch - 1), self.labels[idx]

    def on_epoch_begin(self):
        # Counted here only: Keras also calls on_epoch_end once before the first epoch.
        self.order = epoch_order(self.seed, self.epoch, len(self.labels))
        self.epoch += 1


def shuffled_batches(make_inputs, labels: np.ndarray, batch_size: int, seed: int, first_epoch: int):
    """Shuffled training batches for fit, from make_inputs(idx, epoch), a batch's inputs; the order
    of epoch k depends on the seed and k only. `first_epoch`: the epochs already trained."""
    import keras

    feeder = type("Feeder", (_ShuffledBatches, keras.utils.PyDataset), {})
    return feeder(make_inputs, labels, batch_size, seed, first_epoch)


def epoch_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, epochs: range):
    """The shuffled batches of the 0-based `epochs`, one after another, as one tf.data pipeline
    that gathers rows from two in-memory arrays: no Python per batch."""
    import tensorflow as tf

    orders = np.stack([epoch_order(seed, e, len(y)) for e in epochs])
    xs, ys = tf.constant(x), tf.constant(y)
    return (tf.data.Dataset.from_tensor_slices(orders)
            .flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch_size))
            .map(lambda idx: (tf.gather(xs, idx), tf.gather(ys, idx)))
            .prefetch(2))


class FeatureBatches:
    """The same shuffled batches as shuffled_batches, of cached features, for epoch_batches. With
    the head compiled to run a whole epoch per call (steps_per_execution), `fit` costs ~0.1 s an
    epoch here instead of ~0.4 s; the observer then hears once per epoch, and a stop ends training
    at the epoch's end."""

    def __init__(self, features: np.ndarray, labels: np.ndarray, batch_size: int, seed: int):
        self.features, self.labels, self.batch_size, self.seed = features, labels, batch_size, seed

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def dataset(self, epochs: range):
        """Every batch of the 1-based `epochs`."""
        return epoch_batches(self.features, self.labels, self.batch_size, self.seed,
                             range(epochs.start - 1, epochs.stop - 1))


def feature_steps(x: np.ndarray, y: np.ndarray):
    """Cached features to evaluate on, as one dataset of VAL_BATCH-row steps: given arrays, Keras
    would cut them into 32-row steps anew at every epoch."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(VAL_BATCH)


class VariantBank:
    """make_inputs(idx, epoch) for an augmented run on a frozen base: the base's features of
    augmented training photos.

    In the first `variants` epochs every batch is augmented and goes through the base, as in the
    post, and its features are kept. From then on each photo's features are one of its kept
    variants, drawn per epoch from the seed: the base, nearly all of an epoch's cost, does not run
    again. With `variants` 0 every epoch makes new ones, as the post does. The bank holds at most
    MAX_BYTES; a larger training split keeps fewer variants.
    """

    MAX_BYTES = 512 * 2**20
    FEATURES = 1280  # MobileNetV2's pooled output, float32

    def __init__(self, make, count: int, variants: int, seed: int):
        self.make, self.count, self.seed = make, count, seed  # make(idx, epoch): a batch's augmented features
        self.variants = min(variants, self.MAX_BYTES // max(1, count * self.FEATURES * 4))
        self.bank: np.ndarray | None = None  # (variants, count, features), filled in the first epochs
        self.picks: tuple[int, np.ndarray] | None = None  # (epoch, the variant each photo gets in it)

    def __call__(self, idx: np.ndarray, epoch: int) -> np.ndarray:
        if epoch >= self.variants > 0:
            return self._drawn(idx, epoch)
        x = self.make(idx, epoch)
        if 0 <= epoch < self.variants:  # (Keras asks for two batches before the first epoch, to learn their shape)
            if self.bank is None:
                self.bank = np.empty((self.variants, self.count, x.shape[1]), np.float32)
            self.bank[epoch, idx] = x
        return x

    def _drawn(self, idx: np.ndarray, epoch: int) -> np.ndarray:
        """The kept features of batch idx in a later epoch: one variant per photo, drawn per epoch."""
        if self.picks is None or self.picks[0] != epoch:
            self.picks = (epoch, np.random.default_rng((self.seed, epoch, 1)).integers(
                self.variants, size=self.count))
        return self.bank[self.picks[1][idx], idx]
