#!/usr/bin/env bash
# Checks that the lint gate rejects testdata/lint/violations, a package that breaks each of
# its rules once: every finding listed in want.txt (file:line linter), and nothing else. A gate
# that passes this file enforces nothing (a linter dropped from .golangci.yml, a depguard rule
# that no longer matches, exhaustive pointed at the wrong types).
# Usage: tools/lintgate.sh GOLANGCI_LINT_COMMAND...
set -uo pipefail
cd "$(dirname "$0")/.."
dir=testdata/lint/violations
out=$("$@" run --output.text.print-issued-lines=false "./$dir/" 2>&1)
rc=$?
got=$(printf '%s\n' "$out" | sed -nE "s#^$dir/([^:]+):([0-9]+):[0-9]+: .* \(([a-z]+)\)\$#\1:\2 \3#p" | sort)
if [ "$rc" -ne 1 ] || [ "$got" != "$(sort "$dir/want.txt")" ]; then
  echo "lint gate: $dir should fail with exactly the findings of $dir/want.txt (exit 1); got exit $rc:" >&2
  printf '%s\n' "$out" >&2
  diff <(sort "$dir/want.txt") <(printf '%s\n' "$got") >&2
  exit 1
fi
echo "lint gate: $dir rejected as expected ($(wc -l <"$dir/want.txt") findings)"
