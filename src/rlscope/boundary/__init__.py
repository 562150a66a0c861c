"""The reasoning boundary of RLVR: sample many answers, verify them, compare pass@k curves."""
