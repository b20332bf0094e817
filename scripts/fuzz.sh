#!/bin/sh
# Runs every Go fuzz target in the repository for a while each, one after
# the other, so that a new target is never left out of `make fuzz` or
# `make fuzz-long`: targets are found by their `func FuzzXxx(f *testing.F)`
# line in *_test.go files, not listed by hand.
#
#   scripts/fuzz.sh 30s             every target for 30 s
#   scripts/fuzz.sh 10m ./turn      only the targets of ./turn
#   scripts/fuzz.sh -list           print "package target" lines only
#
# GO picks the go command; FUZZFLAGS adds flags to each `go test`
# (e.g. FUZZFLAGS=-parallel=1 on a shared machine). FUZZMINTIME bounds
# how long a worker shrinks each new input (go's default is 60 s): on
# FuzzPacketParse, whose coverage is not stable from run to run, the
# worker spent whole minutes shrinking and ran about 1 600 inputs a
# minute; with 3 s it ran 130 000 in 45 s. A crash stops nothing:
# every target runs, the failing ones are listed at the end, the exit
# status is 1, and the crashing input lies in the package's
# testdata/fuzz/<target>/ (add it as a seed once fixed).
set -u

GO=${GO:-go}
FUZZFLAGS=${FUZZFLAGS:-}
FUZZMINTIME=${FUZZMINTIME:-5s}

if [ $# -lt 1 ]; then
	echo "usage: $0 FUZZTIME|-list [package dir...]" >&2
	exit 2
fi
time=$1
shift
[ $# -eq 0 ] && set -- .

cd "$(dirname "$0")/.." || exit 2

# targets prints "dir name" for each fuzz target under the given dirs.
targets() {
	grep -rlE --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.git \
		'^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' "$@" | sort | while read -r file; do
		dir=$(dirname "$file")
		sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(f \*testing\.F\).*/\1/p' "$file" | while read -r name; do
			echo "./${dir#./} $name"
		done
	done
}

list=$(targets "$@")
if [ -z "$list" ]; then
	echo "no fuzz targets under $*" >&2
	exit 2
fi
if [ "$time" = -list ]; then
	echo "$list"
	exit 0
fi

failed=""
echo "$list" | {
	while read -r pkg name; do
		echo "== $pkg $name ($time)"
		# shellcheck disable=SC2086 # FUZZFLAGS is a list of flags.
		if ! $GO test "$pkg" -run '^$' -fuzz "^$name\$" -fuzztime "$time" -fuzzminimizetime "$FUZZMINTIME" $FUZZFLAGS; then
			failed="$failed $pkg:$name"
		fi
	done
	if [ -n "$failed" ]; then
		echo "fuzz targets that failed:$failed" >&2
		exit 1
	fi
}
