"""The exceptions a user can meet: each carries one sentence that says what
went wrong and what to do, so pages and the command line can show it as is."""


class CatdogError(Exception):
    """Base of every error meant to be shown to a user rather than as a traceback."""


class DatasetUnavailable(CatdogError):
    """The dataset is neither on disk nor downloadable."""


class NotUnpacked(DatasetUnavailable):
    """The dataset's zip is on disk but not unpacked yet (only when asked not to unpack)."""


class InvalidDataset(CatdogError):
    """A dataset folder or zip does not have a usable layout."""


class WeightsUnavailable(CatdogError):
    """The MobileNetV2 base weights are missing, broken or not downloadable."""


class InvalidImage(CatdogError):
    """Uploaded bytes are not an image this project can classify."""


class InvalidSettings(CatdogError):
    """A setting (augmentation, epochs, recipe name) is out of range."""


class RunNotFound(CatdogError):
    """No saved run matches the name asked for."""
