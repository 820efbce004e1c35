"""The fixture that leaves no job behind a test: import it into a test module to use it there."""

import pytest

from catdog_core import jobs


@pytest.fixture(autouse=True)
def idle_queue():
    """No job may outlive its test (conftest also stops the test's workers)."""
    yield
    queue = jobs.get_queue()
    queue.stop_all()
    for job in queue.jobs():
        queue.wait(job.job_id, timeout=60)
