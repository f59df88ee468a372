"""Goal curricula (installed as ``autotelic.curricula``): the protocol, the registry, and the built-in samplers.

Importing this package registers the built-ins: ``uniform``, ``lp``, ``novelty``, ``frontier``, ``mixture``.
"""
from .base import (BaseCurriculum, GoalCurriculum, make_curriculum, register_curriculum,
                   registered_curricula)
from .frontier import FrontierCurriculum
from .lp import LPCurriculum
from .mixture import MixtureCurriculum
from .novelty import NoveltyCurriculum
from .uniform import UniformCurriculum

__all__ = ["BaseCurriculum", "GoalCurriculum", "make_curriculum", "register_curriculum", "registered_curricula",
           "UniformCurriculum", "LPCurriculum", "NoveltyCurriculum", "FrontierCurriculum", "MixtureCurriculum"]
