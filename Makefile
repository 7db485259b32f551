# Quickstart: `make demo` (train on built-in synthetic faces), `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo
DATA_DIR ?= data

.PHONY: venv demo test bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,torch]'
	touch $(STAMP)

demo: $(STAMP)
	# 32 held-out identities: evaluation scores them all (configs/small_cpu.py).
	$(BIN)/jaxface make-data --name synthetic_faces --identities 384 \
	  --test-identities 32 --views 8 --size 32 --data-dir $(DATA_DIR)
	# The identity judge's own, smaller training set (configs/identity_judge.py).
	$(BIN)/jaxface make-data --name synthetic_faces --identities 96 \
	  --test-identities 32 --views 8 --size 32 --data-dir $(DATA_DIR)
	# E2 first (kept if a previous demo made it): the identity loss needs it.
	test -f $(DEMO_DIR)/identity/identity_encoder/identity_config.json || \
	  $(BIN)/jaxface pretrain-identity --config=configs/identity_synthetic.py \
	  --config.data.data_dir=$(DATA_DIR) --workdir $(DEMO_DIR)/identity
	# The identity judge: another network, only evaluation reads it.
	test -f $(DEMO_DIR)/judge/identity_encoder/identity_config.json || \
	  $(BIN)/jaxface pretrain-identity --config=configs/identity_judge.py \
	  --config.data.data_dir=$(DATA_DIR) --workdir $(DEMO_DIR)/judge
	$(BIN)/jaxface train --config=configs/small_cpu.py \
	  --config.data.data_dir=$(DATA_DIR) \
	  --config.identity.encoder_dir=$(DEMO_DIR)/identity/identity_encoder \
	  --config.identity.judge_dir=$(DEMO_DIR)/judge/identity_encoder \
	  --workdir $(DEMO_DIR)
	$(BIN)/jaxface render --workdir $(DEMO_DIR) --out $(DEMO_DIR)/renders
	$(BIN)/python -m jaxface.data.demo_photos --data-dir $(DATA_DIR) \
	  --out $(DEMO_DIR)/photos
	$(BIN)/jaxface reconstruct $(DEMO_DIR)/photos --workdir $(DEMO_DIR) \
	  --out $(DEMO_DIR)/reconstructions
	$(BIN)/jaxface reconstruct $(DEMO_DIR)/photos --workdir $(DEMO_DIR) \
	  --refine-steps 100 --out $(DEMO_DIR)/reconstructions_refined
	# The 32 held-out identities scored two ways in one pass: Q's estimate
	# (eval/metrics_step<N>.json), then 100 steps of test-time refinement, as
	# reconstructions_refined/ (..._refine100.json). Pivotal tuning (a copy of
	# the generator per identity, `--tune-generator`) is left out: 32 copies
	# take some 6 more minutes on 2 cores, and their scoring
	# (experiments/bench_tune_batched.py).
	$(BIN)/jaxface evaluate --workdir $(DEMO_DIR) --refine-steps 100 \
	  --every-stage
	@echo "demo outputs in $(DEMO_DIR): samples/, renders/, reconstructions*/ (pose.json, views.png, orbit.gif, depth.png, mesh.ply/.obj), eval/, tb/ (tensorboard --logdir $(DEMO_DIR)/tb)"

test: $(STAMP)
	JAX_COMPILATION_CACHE_DIR=$(CURDIR)/.cache/jax $(BIN)/python -m pytest -n 2 --dist loadscope tests

bench: $(STAMP)
	$(BIN)/python experiments/bench_train_step.py --config configs/celeba64.py --batch-size 8
	$(BIN)/python experiments/bench_train_step.py --config configs/celeba64.py --batch-size 32

clean:
	rm -rf $(VENV) .cache
