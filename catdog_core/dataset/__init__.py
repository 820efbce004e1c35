"""The dataset: check every file, decode it once (through `images`, the one pixel
path), split it by file, and key everything by content.

Content keys. A dataset's `key` is a hash of every used file's bytes, its
class, its split, the split seed and the pixel path's version. Two folders
with the same file names but other pictures get different keys, so no cache
(decoded images, MobileNetV2 features, evaluations) is ever shared between them.

Splits by file. The blog post carves its test set out of validation with
``take(n // 5)`` / ``skip(n // 5)`` on a dataset that reshuffles every pass, so
its "test" images change from epoch to epoch and overlap validation. Here a
file's split depends on that file alone: a hash of its path and the seed puts
about one fifth of the validation images in the test split. Adding or removing
a picture never moves another one, and the split is the same on every epoch,
rerun, process and machine.

Decoded once per machine. The decoded 160x160 images of a dataset are written
to ``<cache>/decoded/<key>.npy`` (config.cache_home) and read back as a memory map, so a
second process (the training worker, a CLI run, a restarted server) starts in
well under a second and thirty sessions share one copy in the page cache.

Seen before. With its decode every photo gets a small perceptual fingerprint, kept
beside the decoded images by the same key, so that a photo given to a model later that
is one of the dataset's own (saved again, resized by a pixel) is named as such.

Laid out by job: record (Dataset, Split, the limits), files (scan, read and hash
each file once), plan (splits and the content key), decoded (the disk cache),
fingerprints (the same picture again), loading (load, open, the in-process cache),
stats (baseline and examples).
"""

from ..progress import Progress  # noqa: F401  (callers use dataset.*)
from ..sources import DataSource, find_source  # noqa: F401
from .decoded import seen_photos  # noqa: F401
from .fingerprints import TOLERANCE, SeenPhoto  # noqa: F401
from .files import files_signature  # noqa: F401
from .loading import (cached_dataset, clear_cache, forget, release, load_dataset, open_prepared,  # noqa: F401
                      signature_of)
from .plan import unit  # noqa: F401
from .record import (AUTO_HELD_OUT, DISK_CACHE, FORMAT_EXTENSION, MAX_FILE_BYTES, MEMORY_CACHE,  # noqa: F401
                     MIN_IMAGES_PER_CLASS, PIXELS_VERSION, SPLITS, TEST_SHARE, Dataset, SkippedFile, Split,
                     label_counts)
from .stats import clear_example, majority_baseline, majority_classes, pick_examples  # noqa: F401
