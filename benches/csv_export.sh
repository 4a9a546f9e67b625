#!/usr/bin/env bash
# A 10-million-row CSV export through tiaokuai's HTTP API: wall time, bytes streamed and the
# server's peak resident memory, next to DuckDB writing the same rows as CSV in the same run.
#
#   bash benches/csv_export.sh            (needs curl; installs the duckdb Python package)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/tiaokuai-target}"
ROWS="${ROWS:-10000000}"
PORT="${PORT:-18765}"
TOKEN="bench-$(date +%s%N)"

cargo build --release -p tiaokuai >/dev/null 2>&1
BIN="$CARGO_TARGET_DIR/release/tiaokuai"
DATA=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$DATA"' EXIT

TIAOKUAI_ADMIN_TOKEN="$TOKEN" "$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --log warn &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status")

SQL="SELECT value AS id, concat('resident-', CAST(value AS VARCHAR)) AS name, value % 269 AS village, CAST(value AS DOUBLE) * 1.5 AS amount FROM generate_series(1, $ROWS)"
read -r bytes seconds < <(curl -s -o /dev/null -w '%{size_download} %{time_total}\n' \
  "http://127.0.0.1:$PORT/v1/query" -H "Authorization: Bearer $TOKEN" -H 'Accept: text/csv' \
  -d "{\"sql\": \"$SQL\"}")
peak=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")

python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install --quiet duckdb
DUCK_SQL="COPY (SELECT range + 1 AS id, concat('resident-', CAST(range + 1 AS VARCHAR)) AS name, (range + 1) % 269 AS village, CAST(range + 1 AS DOUBLE) * 1.5 AS amount FROM range($ROWS)) TO '/dev/null' (FORMAT csv, HEADER)"
duck=$( { /usr/bin/time -f '%e %M' python3 -c "import duckdb; duckdb.sql(\"SET threads=2\"); duckdb.sql(\"$DUCK_SQL\")"; } 2>&1 | tail -1)
read -r duck_seconds duck_peak <<<"$duck"

echo "| what | rows | wall time (s) | bytes | peak RSS (MiB) |"
echo "|---|---|---|---|---|"
echo "| tiaokuai: POST /v1/query, text/csv, over loopback HTTP | $ROWS | $seconds | $bytes | $((peak / 1024)) (idle: $((rss_before / 1024))) |"
echo "| DuckDB $(python3 -c 'import duckdb; print(duckdb.__version__)'): COPY … TO CSV, in process | $ROWS | $duck_seconds | — | $((duck_peak / 1024)) |"
