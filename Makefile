# The single source of set-up: every target installs what it needs first.
#   make submit                          the embedded demo, end to end
#   make track=purchase100 submit DATA=/path/to/mico
#   make test
#   make results [QUICK=1] [SECTIONS=a,b] regenerate every figure the README and docs quote (full: hours)
#   make lint                            ruff: lint + format check

PY      ?= python3
VENV    ?= .venv
track   ?= demo
DATA    ?= data
JOBS    ?= 2
N       ?=
EXTRAS  ?= dev,dp,cluster,postgres,sst2
QUICK   ?=
MIA     := $(VENV)/bin/mia
ARGS    := --track $(track) --data $(DATA)

.PHONY: help install challenge references outputs attack package check submit evaluate tune study test lint bench results clean
.DEFAULT_GOAL := help

help:
	@echo "make submit | test | lint | challenge | references [N=64] | outputs | attack | package | check ZIP=... | evaluate | tune | study | bench | results [QUICK=1] | clean"
	@echo "variables: track=$(track) DATA=$(DATA) JOBS=$(JOBS)"

$(VENV)/.installed: setup.cfg setup.py pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

install: $(VENV)/.installed

challenge: install
	$(MIA) challenge build $(ARGS) -j $(JOBS)

references: install
	$(MIA) references $(ARGS) -j $(JOBS) $(if $(N),-n $(N))

outputs: install
	$(MIA) outputs $(ARGS) -j $(JOBS)

attack: install
	$(MIA) attack $(ARGS)

package: install
	$(MIA) package $(ARGS)

check: install
	@test -n "$(ZIP)" || (echo "usage: make check ZIP=submissions/<track>/<run>/<task>.zip" && exit 2)
	$(MIA) check $(ZIP) $(ARGS)

submit: install
	$(MIA) submit $(ARGS) -j $(JOBS)

evaluate: install
	$(MIA) evaluate $(ARGS)

tune: install
	$(MIA) tune $(ARGS)

study: install
	$(MIA) study scaling
	$(MIA) study imbalance

test: install
	$(VENV)/bin/python -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

results: install
	$(VENV)/bin/python benchmarks/results.py $(if $(QUICK),--quick) $(if $(SECTIONS),--sections $(SECTIONS))

bench: install
	$(VENV)/bin/python benchmarks/bench_outputs.py
	$(VENV)/bin/python benchmarks/bench_attacks.py

clean:
	rm -rf .cache runs build *.egg-info
