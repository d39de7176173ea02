"""Notebook front end: the ipywidgets control panel and live views of a running session.

::

    from s2st_kit.notebook import ControlPanel
    panel = ControlPanel()            # engines, languages, voice, chunk size, input; Start / Stop
    panel                             # display it
    panel.dataframe()                 # the last session's segment log

* :class:`ControlPanel` (:mod:`.panel`): thin widgets over :class:`PanelModel`.
* :class:`PanelModel`, :class:`EngineCatalog`, :class:`InputCatalog`, :class:`Selection`
  (:mod:`.model`): the choices and the options valid for them, in plain Python;
  :class:`SessionRunner` (:mod:`.session`): one session at a time, opened and closed safely.
* :class:`TranscriptFeed`, :class:`LatencyChart`, :class:`ResultsView` (:mod:`.views`):
  pipeline subscribers that update widgets, throttled.

Importing this package needs ``ipywidgets`` (``pip install 's2st_kit[notebook]'``); the
live-audio modules (local and browser microphone) are imported only when offered.
"""

from .model import (
    Availability,
    EngineCatalog,
    InputCatalog,
    PanelModel,
    PanelOptions,
    Selection,
)
from .panel import ChoiceRow, ControlPanel
from .session import SessionRunner
from .views import FeedModel, LatencyChart, ResultsView, Throttle, TranscriptFeed

__all__ = [
    "Availability",
    "ChoiceRow",
    "ControlPanel",
    "EngineCatalog",
    "FeedModel",
    "InputCatalog",
    "LatencyChart",
    "PanelModel",
    "PanelOptions",
    "ResultsView",
    "Selection",
    "SessionRunner",
    "Throttle",
    "TranscriptFeed",
]
