# inferno.runners: one entry point for the test bed. Every target sets up what it needs.
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export INFERNO_APT_CACHE ?= /var/cache/inferno-apt
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/tests/output/collections:$(CURDIR)/$(VENV)/lib/python3.11/site-packages
SCENARIOS ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))

.PHONY: test fast setup lint sanity unit integration molecule build images docs sandbox sandbox-test sandbox-down clean help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

test: ## Every test: setup, images, lint, sanity, unit, integration, Molecule, sandbox, build (summary at the end)
	@bash tests/bed/run-tests.sh all

fast: ## The daily loop: lint, sanity and unit tests
	@bash tests/bed/run-tests.sh fast

setup: ## Virtualenv, npm tools, host packages and a Docker engine
	@bash tests/bed/setup.sh all

images: setup ## Local systemd base images, amd64 and arm64 (built without any registry)
	@bash tests/bed/image.sh debian12 >/dev/null
	@bash tests/bed/image.sh debian12 arm64 >/dev/null

lint: ## ansible-lint, production profile
	@bash tests/bed/run-tests.sh lint

sanity: ## ansible-test sanity on a copy of the collection
	@bash tests/bed/run-tests.sh sanity

unit: ## pytest unit tests
	@bash tests/bed/run-tests.sh unit

integration: ## pytest integration tests (servers, namespaces, npm tools)
	@bash tests/bed/run-tests.sh integration

molecule: ## Every Molecule scenario (SCENARIOS="a b" to choose)
	@bash tests/bed/run-tests.sh molecule

build: ## Build the collection tarball, install it and list its modules
	@bash tests/bed/run-tests.sh build

docs: ## Regenerate docs/roles and docs/modules from argument specs and module docs
	@$(VENV)/bin/python docs/generate.py

sandbox: ## The main job: site.yml on three local systemd containers, then the fleet report
	@bash tests/bed/sandbox.sh up

sandbox-test: ## The sandbox end to end: up, up again (0 changed), the report checked, down
	@bash tests/bed/sandbox.sh test

sandbox-down: ## Remove the sandbox: containers, network, fake GitHub and its state
	@bash tests/bed/sandbox.sh down

clean: ## Remove test output (keeps the venv, caches and images)
	rm -rf tests/output inferno-runners-*.tar.gz
