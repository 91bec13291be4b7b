# The layering check (scripts/check-layers.sh: each directory includes only the public
# headers of the layers below it) counts as a host suite in `make test`; `make` runs it too.
HOST_TESTS += scripts/check-layers.sh
# The style check (scripts/check-style.sh: one statement a line, no statement on the line of
# its if/else/for/while, 4-space indentation) is a host suite too: a new violation fails it.
HOST_TESTS += scripts/check-style.sh
