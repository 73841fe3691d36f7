"""vigor: verifier-free RL post-training with the VIGOR gradient-norm reward.

The heavy pieces (torch, transformers, TRL) are imported lazily by the submodules, so
`import vigor` and `vigor --help` stay fast.
"""

__version__ = "0.1.0"
