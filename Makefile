# gwlab: every target installs what it needs itself, idempotently (run as root on Debian 12 / Ubuntu).
SHELL := /bin/bash
.DEFAULT_GOAL := help

LAB ?= hybrid
NAME ?=
RUNTIME ?= netns
VENV := .venv
PY := $(VENV)/bin/python
GWLAB := $(VENV)/bin/gwlab
APT_PACKAGES := frr nftables iproute2 iputils-ping procps graphviz python3-venv kmod
# The container runtimes (docker.io; podman with catatonit for --init), the node image's build (mmdebstrap,
# Debian's keyring, also on Ubuntu) and strongSwan's charon with kernel-libipsec; without recommends, as
# measured in containers.md. podman's install upgrades the host's login and passwd (libsubid4 must match).
CONTAINER_PACKAGES := docker.io podman catatonit mmdebstrap debian-archive-keyring strongswan-charon \
  strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins openssl
PYTEST_ARGS ?=
# Workers for `make test` (pytest-xdist): most slow tests wait on protocol timers, not on the CPU; tests
# that share a scenario run, or compare the host's own state, stay together (tests/conftest.py).
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup

.PHONY: help setup apt venv image up down status demo test test-full soak bench lint format clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: apt venv  ## install system packages (apt) and the Python side (.venv)

apt:  ## install missing Debian packages (FRR, nftables, iproute2, docker.io, podman, mmdebstrap, ...)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  if echo "$$missing" | grep -qw frr && command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then \
	    systemctl disable --now frr >/dev/null 2>&1 || true; \
	  fi; \
	fi
	@# Docker's service would start dockerd in its default mode (iptables rules, docker0, ip_forward=1,
	@# never undone): policy-rc.d keeps the install from starting it, and under systemd the service and
	@# its socket are disabled. gwlab starts dockerd itself, in lab mode, when it needs one.
	@missing=$$(for p in $(CONTAINER_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  guard=; if [ ! -e /usr/sbin/policy-rc.d ]; then guard=1; printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; fi; \
	  rc=0; { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; } || rc=$$?; \
	  if [ -n "$$guard" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	  if echo "$$missing" | grep -qw docker.io && [ -d /run/systemd/system ]; then \
	    systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true; \
	  fi; \
	  if echo "$$missing" | grep -qw strongswan-charon && [ -d /run/systemd/system ]; then \
	    systemctl disable --now strongswan-starter strongswan >/dev/null 2>&1 || true; \
	  fi; \
	  exit $$rc; \
	fi

# gwlab's own bytecode, kept fresh: every CLI call, probe agent and lab helper imports it, and where
# PYTHONDONTWRITEBYTECODE=1 is set (as on the machines here) each would compile ~130 modules again (0.25 s a process).
venv: $(VENV)/.installed
	@$(PY) -m compileall -q lab controller >/dev/null

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

up: setup  ## bring a lab up: make up LAB=hybrid [NAME=...] [RUNTIME=netns]
	$(GWLAB) up $(LAB) $(if $(NAME),--name $(NAME)) --runtime $(RUNTIME)

down: venv  ## take a lab down: make down [NAME=...] (default: every lab)
	$(GWLAB) down $(if $(NAME),$(NAME),--all)

status: venv  ## show a running lab
	$(GWLAB) status $(NAME)

SCENARIO ?= er-failover
REPORTS ?= reports

demo: setup  ## the main job: bring the default lab up, fail ExpressRoute, report, take it down
	@$(GWLAB) down demo >/dev/null 2>&1 || true
	$(GWLAB) up $(LAB) --name demo --runtime $(RUNTIME)
	$(GWLAB) status demo
	@rc=0; $(GWLAB) run $(SCENARIO) --name demo --report $(REPORTS)/$(SCENARIO) || rc=$$?; \
	  $(GWLAB) down demo; exit $$rc

image: setup  ## the node image gwlab/node:<hash> in docker and podman (built once, then reused: ~2 s)
	$(GWLAB) image build

test: setup lint image  ## lint, the node image, then the test suite (as root: real namespaces and daemons)
	$(PYTEST) $(PYTEST_ARGS)

SOAK_S ?= 1800
SEED ?= 1

soak: setup  ## chaos for 30 min on the default lab (SOAK_S=seconds SEED=n), then a check that nothing leaked
	GWLAB_SOAK_S=$(SOAK_S) GWLAB_SOAK_LAB=$(LAB) GWLAB_SOAK_SEED=$(SEED) GWLAB_SOAK_REPORT=$(REPORTS)/soak \
	  $(PY) -m pytest tests/test_soak.py -q -s -p no:cacheprovider

test-full: setup lint image  ## the test suite with the whole matrix (every built-in on both container engines, ...)
	GWLAB_FULL_TESTS=1 $(PYTEST) $(PYTEST_ARGS)

bench: setup  ## benchmarks: docs/benchmarks.md, bench/results.json (BENCH_ARGS=--quick for a short run)
	test -x $(VENV)/bin/py-spy || $(PY) -m pip install -q py-spy  # profiles the largest lab
	command -v iperf3 >/dev/null || apt-get install -y -qq iperf3  # IPsec throughput through one tunnel
	$(PY) -m bench $(BENCH_ARGS)

LINT_PATHS := lab controller tests bench

lint: venv  ## ruff (lint and format check) and mypy strict
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy lab controller bench

format: venv  ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format $(LINT_PATHS)
	$(VENV)/bin/ruff check --fix $(LINT_PATHS)

clean:  ## remove build output, reports and the venv (labs: make down)
	rm -rf build $(REPORTS) $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
