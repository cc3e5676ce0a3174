# Two entry points, each setting everything up on a fresh machine: `make quickstart` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: quickstart test browser postgres docs

# tests/plugin_package: an example plug-in installed as a user's would be (its entry points are tested)
$(STAMP): pyproject.toml tests/plugin_package/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[test,postgres,onnx,docs,ray]"
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e tests/plugin_package
	touch $(STAMP)

quickstart: $(STAMP)
	$(BIN)/pruningbench bench quickstart --jobs 2

# The report test opens the HTML report in Debian's headless Chromium; installed here when missing and we are root
# (otherwise that one test is skipped with its reason).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium not installed: the browser test will be skipped"

# The store, queue and concurrency tests also run against a throwaway PostgreSQL server that the tests start on
# loopback from Debian's binaries; installed here when missing and we are root (otherwise those variants are skipped).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || { \
		[ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
		echo "PostgreSQL not installed: the PostgreSQL variants of the store and queue tests will be skipped"

# The documentation site (mkdocs.yml): built with warnings as errors; the output (.site/) is not committed.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: $(STAMP) browser postgres docs
	$(BIN)/pytest
