"""The Online Retail data, imported with ``wayline import`` and analysed end to end through
``wayline report``: attribution with the country as the channel, and the discovered
journey (products bought one after another), checked against pandas and pm4py on the same
rows of the file. On the embedded installation and on PostgreSQL (store and warehouse).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.conftest import PG_ADMIN_URL, PgTemplates
from wayline.analytics.loader import WarehouseLoader
from wayline.analytics.warehouse import open_warehouse
from wayline.settings import Settings
from wayline.store import open_store

#: The first rows of the file (December 2010): enough customers, a short test.
ROWS = 3000


@pytest.fixture(params=("embedded", "postgresql"))
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WAYLINE_")}
    base |= {"WAYLINE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    if request.param == "embedded":
        yield base
        return
    templates: PgTemplates = request.getfixturevalue("pg_templates")
    name = templates.clone()
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield base | {"WAYLINE_DATABASE_URL": url, "WAYLINE_WAREHOUSE_URL": url}
    finally:
        templates.drop(name)


def wayline(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from wayline.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def sample(data: Path, tmp_path: Path) -> Path:
    path = tmp_path / "online-retail-sample.csv"
    with gzip.open(data, "rt", encoding="utf-8") as source:
        path.write_text("".join(islice(source, ROWS + 1)), encoding="utf-8")
    return path


def load_warehouse(env: dict[str, str]) -> None:
    """What ``wayline serve``'s loader does, run to the end."""
    # unset, both are "": the embedded store and warehouse in the data dir
    settings = Settings(
        data_dir=Path(env["WAYLINE_DATA_DIR"]),
        database_url=env.get("WAYLINE_DATABASE_URL", ""),
        warehouse_url=env.get("WAYLINE_WAREHOUSE_URL", ""),
    )
    store = open_store(settings)
    warehouse = open_warehouse(settings)
    try:
        WarehouseLoader(store, warehouse, batch_size=5000).drain()
    finally:
        warehouse.close()
        store.close()


def test_online_retail_attribution_and_discovered_journey(
    env: dict[str, str], retail_data: Path, tmp_path: Path
) -> None:
    csv_path = sample(retail_data, tmp_path)
    wayline(env, "workspace", "create", "retail")
    imported = json.loads(
        wayline(
            env,
            *("import", "events", str(csv_path), "--json", "--quiet"),
            *("--map", "userId=CustomerID:int", "--map", "timestamp=InvoiceDate"),
            *("--map", "properties.order_id=InvoiceNo:str"),
            *("--map", "properties.product_id=StockCode:str"),
            *("--map", "properties.price=UnitPrice", "--map", "properties.country=Country"),
            *("--set", "event=Product Purchased", "--timezone", "Europe/London"),
        )
    )
    rows = pd.read_csv(csv_path, dtype={"StockCode": str, "InvoiceNo": str})
    bought = rows[rows["CustomerID"].notna()].reset_index(drop=True)
    assert imported["landed"] == len(bought)
    load_warehouse(env)

    # -- attribution, the country as the channel: every line is a conversion whose own
    # country is its only touch, so every model gives each country its lines and revenue
    attributed = json.loads(
        wayline(
            env,
            *("report", "attribution", "--by", "properties.country", "--json"),
            *("--conversion-event", "Product Purchased", "--revenue", "properties.price"),
        )
    )
    expected = bought.groupby("Country").agg(
        lines=("UnitPrice", "size"), revenue=("UnitPrice", "sum")
    )
    models = {r["model"] for r in attributed}
    assert models == {
        "first_touch",
        "last_touch",
        "linear",
        "time_decay",
        "position_based",
        "markov",
        "shapley",
    }
    for model in models:
        mine = {r["channel"]: r for r in attributed if r["model"] == model}
        assert set(mine) == set(expected.index), model
        for country, want in expected.iterrows():
            assert mine[country]["conversions"] == pytest.approx(want["lines"]), (model, country)
            assert mine[country]["revenue"] == pytest.approx(want["revenue"]), (model, country)

    # -- the discovered journey over products, against pm4py on the same rows
    import pm4py

    log = pd.DataFrame(
        {
            "case:concept:name": bought["CustomerID"].astype(int).astype(str),
            "concept:name": bought["StockCode"],
            "time:timestamp": pd.to_datetime(bought["InvoiceDate"]),
        }
    )
    dfg, starts, ends = pm4py.discover_dfg(
        pm4py.format_dataframe(
            log,
            case_id="case:concept:name",
            activity_key="concept:name",
            timestamp_key="time:timestamp",
        )
    )
    graph = json.loads(
        wayline(
            env, "report", "discovered-journey", "--activity", "properties.product_id", "--json"
        )
    )
    ours: dict[tuple[Any, Any], int] = {(e["source"], e["target"]): e["frequency"] for e in graph}
    theirs = (
        dict(dfg)
        | {(None, a): n for a, n in starts.items()}
        | {(a, None): n for a, n in ends.items()}
    )
    assert ours == theirs

    variants = json.loads(wayline(env, "report", "variants", "--top", "3", "--json"))
    assert sum(v["cases"] for v in variants) <= bought["CustomerID"].nunique()
    assert variants[0]["variant"] == ["Product Purchased"] * len(variants[0]["variant"])
