#!/usr/bin/env bash
# The main job on the bundled real data (data/, see each PROVENANCE.md):
#   readings in (CSV files, HydroVu devices, LakeTech exports in an inbox) -> a pond in demo/pond
#   -> joined and downsampled series (1h 2h 4h 12h 24h) -> a static website in demo/site.
# The HydroVu devices come from the HydroVu-compatible test server, started here on loopback and
# serving the same bundled real readings (it stands in for www.hydrovu.com).
# DUCKPOND_PY and DUCKPOND_POND name another python and pond (an installed wheel: the CI test of a
# user install runs this script with them, from a copy of scripts/, examples/ and data/ only).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${DUCKPOND_PY:-.venv/bin/python}
POND_BIN=${DUCKPOND_POND:-.venv/bin/pond}
export POND="$PWD/demo/pond"
rm -rf demo
mkdir -p demo

PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$PY -m duckpond.testing.hydrovu_server --port "$PORT" >demo/hydrovu-server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
$PY - "$PORT" <<'PYEOF'
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
        break
    except OSError:
        time.sleep(0.05)
else:
    sys.exit("the HydroVu test server did not start (see demo/hydrovu-server.log)")
PYEOF
export HYDROVU_BASE_URL="http://127.0.0.1:$PORT/public-api/"
export HYDROVU_CLIENT_ID=test-client HYDROVU_CLIENT_SECRET=test-secret
export LAKETECH_INBOX="$PWD/data/laketech_sample"

SUMMARY_SQL=$(cat <<'SQL'
SELECT 'B01 water' AS series, count(*) AS days, min("Timestamp") AS first_day,
       round(min("B01.WaterTemperature.C.min"), 2) AS lowest_c,
       round(avg("B01.WaterTemperature.C.avg"), 2) AS mean_c,
       round(max("B01.WaterTemperature.C.max"), 2) AS highest_c
FROM source WHERE "B01.WaterTemperature.C.count" > 0
UNION ALL
SELECT 'JFK air', count(*), min("Timestamp"), round(min("JFK.AirTemperature.C.min"), 2),
       round(avg("JFK.AirTemperature.C.avg"), 2), round(max("JFK.AirTemperature.C.max"), 2)
FROM source WHERE "JFK.AirTemperature.C.count" > 0
SQL
)

set -x
$POND_BIN init
$POND_BIN apply -f examples/pipeline.yaml
$POND_BIN apply -f examples/sources.yaml
$POND_BIN run /sources/hydrovu collect
$POND_BIN run /sources/laketech ingest
$POND_BIN apply -f examples/site.yaml
$POND_BIN run /site build demo/site
$POND_BIN list '/reduced/**'
$POND_BIN cat /reduced/all/res=24h.series --format table --sql "$SUMMARY_SQL"
$POND_BIN log
set +x
echo
echo "The website is in demo/site: open demo/site/index.html, or serve it:"
echo "  $PY -m http.server -d demo/site 8000"
