"""`vigor demo`: evaluate, train with VIGOR, evaluate again, and explain what happened."""

from vigor.demo.settings import PRESETS, DemoSettings, preset_settings

__all__ = ["PRESETS", "DemoSettings", "preset_settings", "run_demo"]


def __getattr__(name):
    if name == "run_demo":  # imported on use: it pulls in the evaluation and training stacks
        from vigor.demo.run import run_demo

        return run_demo
    raise AttributeError(f"module 'vigor.demo' has no attribute {name!r}")
