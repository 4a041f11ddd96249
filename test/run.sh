#!/bin/sh
# `npm test`: every test, against the real Redis and PostgreSQL. The tests that start no server of
# their own (unit, Lua contracts, in-process HTTP, structure) run two files at a time: most of
# their time is tap compiling TypeScript, which two cores do in half the time. The integration
# tests start nodes, kill them and time answers: they run one file at a time, alone on the
# machine. Arguments (a reporter, say) go to both runs; the exit status is the first failure's.
tap --jobs=2 "$@" test/unit test/lua test/http test/structure
fast=$?
tap "$@" test/integration
slow=$?
[ "$fast" -ne 0 ] && exit "$fast"
exit "$slow"
