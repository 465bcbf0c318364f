"""Helpers for the collector tests: the registry with hydrovu and inbox, ponds, oracles."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from duckpond import Pond
from duckpond.factories import hydrovu, inbox
from duckpond.factories.registry import FACTORIES, mknod, run
from duckpond.testing.hydrovu_server import Device

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
B01_CSV = DATA / "neracoos_b01_water_temperature_30min" / "neracoos_b01_water_temperature_30min.csv"
JFK_CSV = DATA / "jfk_weather_2013_hourly" / "jfk_weather_2013_hourly.csv"
SAMPLE = DATA / "laketech_sample"
ID, SECRET = "test-client", "test-secret"

# Until the lead adds the modules to BUILTIN_MODULES, tests build their own registry.
REG = FACTORIES.with_factories(hydrovu.FACTORY, inbox.FACTORY)


def new_pond(tmp_path: Path) -> Pond:
    return Pond.init(tmp_path / "pond", factories=REG.resolver())


def make_node(pond: Pond, factory: str, path: str, config: str) -> None:
    with pond.transaction(["mknod", factory, path]) as tx:
        mknod(tx.root(), factory, path, config, registry=REG)


def run_node(pond: Pond, path: str, command: str, *args: str):
    return run(pond, path, command, list(args), registry=REG)


def state(pond: Pond) -> tuple[int, int, int]:
    """(data table version, last txn_seq, oplog rows): all unchanged by a run that wrote nothing."""
    return pond.data_version, pond.txn_seq, pond.oplog().num_rows


def read_csv_us(path: Path) -> pa.Table:
    """Oracle: a bundled wide CSV, Timestamp as timestamp[us, UTC], values float64."""
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={"Timestamp": pa.timestamp("us", tz="UTC")}
        ),
    )
    return pa.table(
        {
            name: table[name] if name == "Timestamp" else table[name].cast(pa.float64())
            for name in table.column_names
        }
    )


def until(device: Device, end_s: int) -> Device:
    """``device`` with only its readings at times < ``end_s`` (seconds since the epoch, UTC)."""
    n = sum(1 for t in device.timestamps if t < end_s)
    return dataclasses.replace(
        device,
        timestamps=device.timestamps[:n],
        series=tuple(dataclasses.replace(s, values=s.values[:n]) for s in device.series),
    )


def hv_config(
    base_url: str,
    *,
    folder: str = "/hydrovu",
    devices: str = "  - {name: B01, id: 1001}\n  - {name: JFK, id: 1002}\n",
    extra: str = "",
) -> str:
    return (
        f"folder: {folder}\n"
        f"base_url: '{base_url}'\n"
        "credentials:\n"
        "  client_id: ${env:HV_TEST_ID}\n"
        "  client_secret: ${env:HV_TEST_SECRET}\n"
        "backoff_s: 0.001\n"
        "timeout_s: 5\n"
        f"{extra}"
        f"devices:\n{devices}"
    )
