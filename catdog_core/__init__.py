"""catdog_core: the library behind the catdog dashboard.

Usable from plain Python and the command line (``python -m catdog_core``);
it never imports Streamlit. Heavy modules (TensorFlow) load lazily.
"""

__version__ = "0.2.0"
