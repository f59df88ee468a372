"""Goal curricula (installed as ``autotelic.curricula``): the protocol, the registry, and the built-in samplers.

Importing this package registers the built-ins: ``uniform``, ``lp``, ``novelty``, ``frontier``, ``mixture``,
``magellan``.
"""
from .base import (BaseCurriculum, GoalCurriculum, GoalPool, draw, make_curriculum, register_curriculum,
                   registered_curricula)
from .frontier import FrontierCurriculum
from .lp import LPCurriculum
from .magellan import MagellanCurriculum
from .mixture import MixtureCurriculum
from .novelty import NoveltyCurriculum
from .uniform import UniformCurriculum

__all__ = ["BaseCurriculum", "GoalCurriculum", "GoalPool", "draw", "make_curriculum", "register_curriculum",
           "registered_curricula", "UniformCurriculum", "LPCurriculum", "MagellanCurriculum", "NoveltyCurriculum",
           "FrontierCurriculum", "MixtureCurriculum"]
