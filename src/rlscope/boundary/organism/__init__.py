"""The model organism: a synthetic verifiable reasoning task and tiny HF models trained on it."""
