# The layering check (scripts/check-layers.sh: each directory includes only the public
# headers of the layers below it) counts as a host suite in `make test`; `make` runs it too.
HOST_TESTS += scripts/check-layers.sh
