"""Goal curricula (installed as ``autotelic.curricula``): the protocol, the registry, and the built-in samplers."""
