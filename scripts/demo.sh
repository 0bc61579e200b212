#!/usr/bin/env bash
# Imports the sample enterprise of the cluster manager guide into a
# temporary store and shows it.
set -euo pipefail
bin=${1:-bin/pbxtopo}
dir=$(mktemp -d "${TMPDIR:-/tmp}/pbxtopo-demo.XXXXXX")
for table in sites clusters acls groups trunks hours extensions hotdesks; do
  "$bin" import --data-dir "$dir" --replica tpa1 "testdata/enterprise/$table.csv"
done
echo
"$bin" ext list --data-dir "$dir" --sort regexten
cat <<MSG

The sample enterprise is in $dir. Try:
  $bin ext list --data-dir $dir --group USSales --sort name
  $bin ext get --data-dir $dir tpa1/6109
  $bin ext batch --data-dir $dir --template USSales --cluster tpa1 --from 6110 --to 6119 --dry-run
  $bin ext set --data-dir $dir tpa1/6109 mailbox=6109
  $bin history --data-dir $dir extensions/tpa1/6109
  $bin export --data-dir $dir --table clusters
MSG
