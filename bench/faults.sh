#!/usr/bin/env bash
# The fault suite with long repetitions, by hand (CI runs it with FAULT_REPEAT=3 and the 40 s
# Redis stop once): each fault injected FAULT_REPEAT times (default 10) into one live sale, the
# 40 s stop FAULT_LONG_STOP_REPEAT times (default 5, about 4 minutes), the whole file ROUNDS
# times (default 1). Every round must end "0 failed". Then the fleet's node loss
# (test/integration/fleet.test.ts: three nodes behind nginx, one killed mid-sale holding orders it
# had read and not written) FLEET_REPEAT times (default 5).
#
#   bash bench/faults.sh            FAULT_REPEAT=20 ROUNDS=3 FLEET_REPEAT=10 bash bench/faults.sh
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
export FAULT_REPEAT=${FAULT_REPEAT:-10}
export FAULT_LONG_STOP_REPEAT=${FAULT_LONG_STOP_REPEAT:-5}
for round in $(seq "${ROUNDS:-1}"); do
  echo "== round $round: FAULT_REPEAT=$FAULT_REPEAT FAULT_LONG_STOP_REPEAT=$FAULT_LONG_STOP_REPEAT"
  npx tap --timeout 1800 --reporter=terse test/integration/faults.test.ts
done
for run in $(seq "${FLEET_REPEAT:-5}"); do
  echo "== fleet node loss, run $run"
  npx tap --reporter=terse --grep 'kill -9' test/integration/fleet.test.ts
done
