#!/usr/bin/env bash
# The main job on the bundled real data (data/, see each PROVENANCE.md):
# CSV readings -> a new pond in demo/pond -> series -> an hourly SQL summary.
set -euo pipefail
cd "$(dirname "$0")/.."
POND_BIN=.venv/bin/pond
export POND="$PWD/demo/pond"
rm -rf demo
mkdir -p demo

$POND_BIN init
$POND_BIN mkdir -p /raw
$POND_BIN copy "host+csv+series://$PWD/data/neracoos_b01_water_temperature_30min/neracoos_b01_water_temperature_30min.csv" /raw/b01.series
$POND_BIN copy "host+csv+series://$PWD/data/jfk_weather_2013_hourly/jfk_weather_2013_hourly.csv" /raw/jfk.series
$POND_BIN list -l
echo
echo "Daily water temperature at buoy B01 (first 10 days), by SQL over the pond:"
$POND_BIN cat /raw/b01.series --format table --sql "
  SELECT date_bin(INTERVAL '1 day', \"Timestamp\", TIMESTAMP '1970-01-01T00:00:00Z') AS day,
         round(min(\"WaterTemperature.C\"), 3) AS min_c,
         round(avg(\"WaterTemperature.C\"), 3) AS avg_c,
         round(max(\"WaterTemperature.C\"), 3) AS max_c,
         count(*) AS readings
  FROM source GROUP BY day ORDER BY day LIMIT 10"
echo
$POND_BIN log
