#!/usr/bin/env bash
# A selective query on a 1,000,000-row PostgreSQL table, through tiaokuai and through psql, in
# the same run; and the number of rows PostgreSQL sent to tiaokuai (EXPLAIN ANALYZE's
# output_rows of the RemoteQueryExec).
#
#   cargo build --release -p tiaokuai && benches/pg_pushdown.sh
#
# Needs psql and a PostgreSQL server (PGHOST/PGPORT/PGUSER, default 127.0.0.1:5432 postgres,
# trust auth). TIAOKUAI_BIN picks the binary (default: the release build), RUNS the repetitions.
set -euo pipefail
cd "$(dirname "$0")/.."

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
BIN="${TIAOKUAI_BIN:-${CARGO_TARGET_DIR:-target}/release/tiaokuai}"
RUNS="${RUNS:-20}"
DB=tk_bench_pushdown
PORT=18471
TOKEN=bench-admin-token

if [ "$(psql -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 0 ]; then
  echo "== creating $DB with 1,000,000 residents"
  psql -d postgres -qc "CREATE DATABASE $DB"
  psql -d "$DB" -q <<'SQL'
CREATE TABLE residents (
  id bigint PRIMARY KEY, village_code text NOT NULL, name text NOT NULL,
  age integer, income numeric(12,2), registered date);
INSERT INTO residents
SELECT n,
       '330824' || lpad((100 + n % 14)::text, 3, '0') || lpad((200 + n % 19)::text, 3, '0'),
       '居民' || n, n % 100, (n % 100000) / 10.0, date '2000-01-01' + (n % 9000)
FROM generate_series(1, 1000000) AS n;
CREATE INDEX residents_village ON residents (village_code);
ANALYZE residents;
SQL
fi

# 1 in 266 rows is in village 330824102210; a fifth of those are 80 or older
QUERIES=(
  "SELECT village_code, count(*) AS people, sum(income) AS income FROM residents WHERE village_code = '330824102210' AND age >= 80 GROUP BY village_code"
  "SELECT id, name, age FROM residents WHERE village_code = '330824102210' AND age >= 80 ORDER BY id"
)

data=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
TIAOKUAI_ADMIN_TOKEN=$TOKEN "$BIN" serve --data-dir "$data" --listen "127.0.0.1:$PORT" >"$data/server.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do curl -sf "127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

api() { curl -sf "127.0.0.1:$PORT/v1/$1" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$2"; }
api jurisdictions '[{"code":"330824000000","name":"开化县","level":"county","parent":null}]' >/dev/null
api sources "{\"name\":\"bench\",\"kind\":\"postgres\",\"url\":\"postgres://$PGUSER@$PGHOST:$PGPORT/$DB\",\"owner\":\"330824000000\",\"options\":{\"sslmode\":\"disable\"},\"tables\":[{\"name\":\"bench.residents\",\"remote\":\"public.residents\",\"binding\":{\"column\":\"village_code\"}}]}" >/dev/null

json() { python3 -c 'import json,sys; print(json.dumps({"sql": sys.argv[1]}))' "$1"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms() { awk "BEGIN {printf \"%.1f\", $1 / 1000}"; }

# what one curl request costs by itself (process start, connection): GET /healthz
floor_ms=$(for _ in $(seq 1 "$RUNS"); do
  s=$(date +%s%N); curl -sf "127.0.0.1:$PORT/healthz" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000 ))
done | median)
echo "== a bare curl request (GET /healthz): $(ms "$floor_ms") ms"

for QUERY in "${QUERIES[@]}"; do
  TK_QUERY="${QUERY/FROM residents/FROM bench.residents}"
  body=$(json "$TK_QUERY")
  echo "== $QUERY"
  echo "rows in the answer: psql $(psql -d "$DB" -Atc "$QUERY" | wc -l), tiaokuai $(api query "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["row_count"])')"
  api query "$(json "EXPLAIN ANALYZE $TK_QUERY")" | python3 -c '
import json, re, sys
plan = json.load(sys.stdin)["rows"][0][1]
remote = [l for l in plan.splitlines() if "RemoteQueryExec" in l]
for line in remote:
    rows = re.search(r"output_rows=(\d+)", line)
    print("rows PostgreSQL sent to tiaokuai:", rows.group(1) if rows else "?")
print("operators run locally:", [l.strip().split(":")[0] for l in plan.splitlines() if l.strip() and "RemoteQueryExec" not in l])'
  for _ in $(seq 1 3); do psql -d "$DB" -Atc "$QUERY" >/dev/null; api query "$body" >/dev/null; done
  # psql: the server-side time of the statement in one session (\timing), and a fresh psql
  # process per run (connection included), as a client sees it; tiaokuai: one HTTP request
  server_ms=$( (echo '\timing on'; for _ in $(seq 1 "$RUNS"); do echo "$QUERY;"; done) \
    | psql -d "$DB" -At 2>/dev/null | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' \
    | awk '{printf "%d\n", $1 * 1000}' | median)
  psql_ms=$(for _ in $(seq 1 "$RUNS"); do
    s=$(date +%s%N); psql -d "$DB" -Atc "$QUERY" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000 ))
  done | median)
  tk_ms=$(for _ in $(seq 1 "$RUNS"); do
    s=$(date +%s%N); api query "$body" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000 ))
  done | median)
  echo "median of $RUNS: psql in-session $(ms "$server_ms") ms, psql process $(ms "$psql_ms") ms, tiaokuai HTTP $(ms "$tk_ms") ms"
done
