"""The model service: every piece of TensorFlow work the web pages ask for, done in a
process of its own, so the Streamlit server never imports TensorFlow or Keras.

    from catdog_core.service import get_service
    answer = get_service().classify(run_id, photo_bytes, heatmap=True)

`client` is what the server holds: a small, bounded interface (one method per kind
of request) over two lanes; `lane` is one of them, a process started on first use
and again after it died, given one request at a time. `tasks` is what runs inside those
processes, each registered by @request: plain catdog_core calls (the one pixel path, models,
Grad-CAM, previews, evaluation, embeddings, exports) whose answers are numbers, arrays, the
dataclasses of `answers` and figures (`beside`: what an answer carries beside its class).
`process` is the loop that serves requests in the child.
"""

from .client import ModelService, ServiceBusy, ServiceUnavailable, get_service, shutdown_service  # noqa: F401
