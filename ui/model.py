"""The pages' one way to TensorFlow: the model service (catdog_core.service). `service` asks on
behalf of this session, so that one session's requests cannot crowd out the others'; `shared()`
is the service itself, for answers every session shares (a cache across sessions has no one owner)
and for callbacks that run outside a session's script (a download made when clicked)."""

from __future__ import annotations

import inspect

from catdog_core.service import ModelService, get_service

from .state import owner


class _SessionService:
    """get_service()'s methods with this session as the owner of every request."""

    def __getattr__(self, name: str):
        method = getattr(get_service(), name)
        if name in _OWNED:
            return lambda *args, **kwargs: method(*args, owner=owner(), **kwargs)
        return method


# The requests a session asks as itself: every method that takes an owner (the live camera's frames,
# the lanes' pids and ping answer for no one).
_OWNED = {name for name, method in vars(ModelService).items()
          if not name.startswith("_") and callable(method) and "owner" in inspect.signature(method).parameters}
service = _SessionService()


def shared() -> ModelService:
    """The model service without an owner: see the module's docstring for when."""
    return get_service()
