#!/usr/bin/env bash
# The demo at each given commit, one after the other, with this checkout's .venv (numba cache warm after the
# first run), from an empty results folder; prints wall and CPU time beside a fixed pure-Python loop's time,
# which shows how fast the host was at that moment. Compare only runs made side by side.
#   benchmarks/demo_side_by_side.sh <commit> <commit> ...
# The results stay in /tmp/demo_<commit>/results (compare them with benchmarks/compare_results.py).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
for rev in "$@"; do
  dir=/tmp/demo_$rev
  rm -rf "$dir" && git clone -q "$repo" "$dir" && git -C "$dir" checkout -q "$rev" && ln -s "$repo/.venv" "$dir/.venv"
done
for rev in "$@"; do
  dir=/tmp/demo_$rev
  gauge=$( { /usr/bin/time -f "%e" python3 -c "sum(i*i for i in range(2*10**7))"; } 2>&1 )
  (cd "$dir" && /usr/bin/time -o time.txt -f "wall %e s, user %U s, system %S s" \
    .venv/bin/python -m snakemake --cores 2 --quiet > run.log 2>&1)
  echo "$rev: $(cat "$dir/time.txt") (host gauge ${gauge} s)"
done
