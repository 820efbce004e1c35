"""The pages' way to TensorFlow: the model service (catdog_core.service), asked on behalf
of this session so that one session's requests cannot crowd out the others'."""

from __future__ import annotations

from catdog_core.service import ModelService, get_service

from .state import owner


class _SessionService:
    """get_service()'s methods with this session as the owner of every request."""

    def __getattr__(self, name: str):
        method = getattr(get_service(), name)
        if name in _OWNED:
            return lambda *args, **kwargs: method(*args, owner=owner(), **kwargs)
        return method


_OWNED = {name for name in vars(ModelService) if not name.startswith("_")} - {"classify_frame", "pids", "ping",
                                                                                 "close"}
service = _SessionService()
