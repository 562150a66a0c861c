"""rlscope: the reasoning boundary of RLVR and generative simulation, on one spine."""

__version__ = "0.1.0"
