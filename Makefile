# Two entry points: `make demo` and `make test`. Both create .venv and install pinned dependencies.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export OMP_WAIT_POLICY ?= PASSIVE
export TOKENIZERS_PARALLELISM ?= false

.PHONY: demo test test-all bench setup system-deps clean lerobot test-lerobot vllm test-vllm

$(STAMP): pyproject.toml requirements.lock Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU build of torch (a plain `torch` requirement would pull a multi-GB CUDA build)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.lock
	# robosuite's robot models, for the Panda arm option: rlscope reads the files, never imports the package
	$(PY) -m pip install -q --no-deps robosuite==1.5.2
	# genesis-world's PartNet-Mobility object (a bottle with a lid) for the URDF import tests: read as files, never imported
	$(PY) -m pip install -q --no-deps genesis-world==1.4.5
	# Meta-World's and Franka Kitchen's MJCF objects for the MJCF import tests: read as files, never imported
	$(PY) -m pip install -q --no-deps metaworld==3.1.1 gymnasium-robotics==1.4.2
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

setup: $(STAMP) system-deps

# The lerobot extra (`rlscope gen2sim demos` writes LeRobot datasets) in its own environment: lerobot 0.4.4
# needs torch<2.11 and huggingface-hub<0.36, which the main environment's pins exclude
LEROBOT_VENV := .venv-lerobot
$(LEROBOT_VENV)/.installed: pyproject.toml requirements-lerobot.lock
	$(PYTHON) -m venv $(LEROBOT_VENV)
	$(LEROBOT_VENV)/bin/python -m pip install -q -r requirements-lerobot.lock
	$(LEROBOT_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $@

lerobot: $(LEROBOT_VENV)/.installed system-deps

test-lerobot: lerobot
	$(LEROBOT_VENV)/bin/python -m pytest -q tests/lerobot_extra

# vLLM's CPU build (`--backend vllm`, `vllm serve`) in its own environment: it needs transformers<5.20
VLLM_VENV := .venv-vllm
$(VLLM_VENV)/.installed: pyproject.toml requirements-vllm.lock
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --no-deps -r requirements-vllm.lock
	$(VLLM_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $@

vllm: $(VLLM_VENV)/.installed system-deps

test-vllm: vllm
	$(VLLM_VENV)/bin/python -m pytest -q -p no:logging tests/vllm_extra

system-deps:
	@bash scripts/install-system-deps.sh

# make demo QUICK=1: both systems with tiny budgets (a few minutes); CI runs it
demo: setup
	$(VENV)/bin/rlscope demo $(if $(QUICK),--quick)

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q -m ""

bench: setup
	$(PY) benchmarks/bench_verify.py
	$(PY) benchmarks/bench_store.py
	$(PY) benchmarks/bench_sampling.py
	$(PY) benchmarks/bench_sandbox.py
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_assets.py
	$(PY) benchmarks/bench_gen2sim_ppo.py

clean:
	rm -rf $(VENV) build *.egg-info
