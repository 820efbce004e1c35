"""What the pages' AppTests share: the synthetic dataset as the configured one (the `data` fixture:
import it into a test module to use it there) and the session's trained transfer model saved as a run."""

import pytest


@pytest.fixture
def data(monkeypatch, synthetic_data):
    monkeypatch.setenv("CATDOG_DATA_DIR", str(synthetic_data))
    return synthetic_data


def saved_transfer_run(trained_transfer, extra: dict | None = None):
    """The session's trained transfer model saved as a run in this test's CATDOG_HOME."""
    from catdog_core import runs

    loaded, result = trained_transfer
    return runs.save_run(result, loaded.describe(), extra or None)
