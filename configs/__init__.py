"""The shipped configs (``autotelic train NAME``): YAML files installed as package data of ``autotelic.configs``."""
