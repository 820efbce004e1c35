"""What the pages share, one small module per job:

    state   the session's keys and readers (owner, dataset source, settings, presenter mode)
    text    names from users shown as text (plain); a refusal shown as its sentence (refusal)
    model   the model service, asked on behalf of this session (service) or shared by all (shared_service)
    data    the dataset with its progress bar, its problems, the uploader
    runs    which saved runs a session sees first (the run picker)
    jobs    submit a training job, which one this session follows, stop one
    jobpanel   one job's live panel (progress, time left, how it ended, curves, Stop)
    queueview  the queue of every job, with Stop and Stop all
    heatmap, photocard, photogrid  Classify's parts: where it looked, one photo's card, many photos
    frame   the page frame: password, menu, sidebar status (page_setup)
    classroom  under `catdog classroom`: the pass (who a browser is), whether a camera can work
    table   tables a projector can read (show_table)
    timing  how long a training took on this machine, or nothing (quick_time_note, ...)

UI only: every decision about data, models and jobs is made in catdog_core, and
nothing here imports TensorFlow or Keras: that work goes to the model service.
Pages use the names below as `ui.<name>`.
"""

import gc


from .data import (DATA_HINT, ProgressBar, cached_data, data_available, file_uploader,  # noqa: F401
                   load_data, photo_drop, show_data_problem, try_load_data, use_data)
from .classroom import camera_problem  # noqa: F401
from .figures import figure  # noqa: F401
from .frame import PAGES, class_password, menu_pages, page_setup  # noqa: F401
from .jobs import (PANEL_SECONDS, QUEUE_SECONDS, curves_figure, duration_text, legend_below,  # noqa: F401
                   session_job, started_on, submit, submit_group)
from .jobpanel import job_panel  # noqa: F401
from .queueview import queue_view  # noqa: F401
from .model import service, shared as shared_service  # noqa: F401
from .runs import VALIDATION_NOTE, dataset_tag, default_run, fine_tune_marker, run_picker, session_runs  # noqa: F401
from .state import (AUTH_KEY, GROUP_KEY, NEW_RUNS_KEY, OWNER_KEY, PRESENTER_KEY,  # noqa: F401
                    ROLE_KEY, SETTINGS_KEY, SOURCE_KEY, actor, budget, current_settings, data_source, is_teacher,
                    owner, presenter, state_readable)
from .table import show_table  # noqa: F401
from .text import attempt, plain, refusal  # noqa: F401
from .timing import curve_time_note, quick_time_note, reproduce_time_text  # noqa: F401

# The server's long-lived objects (Streamlit, plotly, pandas and this package, ~140,000 of them) are
# imported by now: moved out of the collector's reach, Python's own full collections walk only what
# script runs make, not the whole heap again every few seconds.
gc.collect()
gc.freeze()
