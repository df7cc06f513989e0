# landdb: `make run` serves the sample Hạ Long data; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

.PHONY: run test venv db clean

$(BIN)/landdb: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/landdb

db:
	scripts/ensure-db.sh

run: venv db
	scripts/install-system.sh fonts
	$(BIN)/landdb db upgrade
	$(BIN)/landdb sample load --if-empty
	scripts/app-role.sh
	DATABASE_URL="$$(cat .landdb/app_database_url)" $(BIN)/landdb serve --port $(PORT)

test: venv
	scripts/install-system.sh postgis gdal qgis chromium redis poppler fonts
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build *.egg-info
