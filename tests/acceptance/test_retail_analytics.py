"""The Online Retail data imported with ``wayline import`` and analysed end to end.

A sample of the real file (every customer whose id is a multiple of 25: 176 customers,
about 14,600 lines over the whole year) is imported as two event types, purchases and
refunds (invoice numbers starting with ``C``), loaded into the warehouse as ``wayline
serve``'s loader does, and analysed with ``wayline report``. Every figure checked is also
computed straight from the CSV with pandas, independently of Wayline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.conftest import PG_ADMIN_URL, PgTemplates
from wayline import cli
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings

MAPPING = (
    *("--map", "userId=CustomerID:int", "--map", "timestamp=InvoiceDate"),
    *("--map", "properties.order_id=InvoiceNo:str", "--map", "properties.product_id=StockCode:str"),
    *("--map", "properties.quantity=Quantity", "--map", "properties.price=UnitPrice"),
    *("--map", "properties.country=Country", "--map", "properties.name=Description"),
    *("--timezone", "Europe/London", "--quiet"),
)
STAGES = """\
stages:
  - name: first order
    events: [Product Purchased]
  - name: repeat
    events:
      - event: Product Purchased
        occurrence: 2
        distinct: order_id
  - name: loyal
    events:
      - event: Product Purchased
        occurrence: 5
        distinct: order_id
"""


@pytest.fixture(scope="module")
def sample(retail_data: Path) -> pd.DataFrame:
    lines = pd.read_csv(retail_data, dtype={"InvoiceNo": str, "StockCode": str})
    lines = lines[lines.CustomerID.notna() & (lines.CustomerID % 25 == 0)].copy()
    when = pd.to_datetime(lines.InvoiceDate).dt.tz_localize("Europe/London")
    lines["at"] = when.dt.tz_convert("UTC")
    lines["customer"] = lines.CustomerID.astype(int).astype(str)
    lines["refund"] = lines.InvoiceNo.str.startswith("C")
    return lines


@pytest.fixture(scope="module", params=("duckdb", "postgresql"))
def shop(
    request: pytest.FixtureRequest, sample: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, dict[str, str]]]:
    """A data dir with workspace ``shop``: the sample imported and loaded into the warehouse
    (the embedded DuckDB file, or PostgreSQL for both the store and the warehouse)."""
    env: dict[str, str] = {}
    database = None
    templates: PgTemplates | None = None
    if request.param == "postgresql":
        templates = request.getfixturevalue("pg_templates")
        database = templates.clone()
        url = sa.make_url(PG_ADMIN_URL).set(database=database)
        env = {
            "WAYLINE_DATABASE_URL": url.render_as_string(hide_password=False),
            "WAYLINE_WAREHOUSE_URL": url.render_as_string(hide_password=False),
        }
    tmp_path = tmp_path_factory.mktemp("retail")
    data_dir = tmp_path / "data"
    columns = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate"]
    columns += ["UnitPrice", "CustomerID", "Country"]
    sample[~sample.refund][columns].to_csv(tmp_path / "purchases.csv", index=False)
    sample[sample.refund][columns].to_csv(tmp_path / "refunds.csv", index=False)
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ("WAYLINE_DATABASE_URL", "WAYLINE_WAREHOUSE_URL", "WAYLINE_DATA_DIR"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        try:
            yield _installed(data_dir, tmp_path), env
        finally:
            if templates is not None and database is not None:
                templates.drop(database)


def _installed(data_dir: Path, tmp_path: Path) -> Path:
    """``wayline workspace create``, two ``wayline import events``, then what ``wayline
    serve`` does in the background: profiles, and the warehouse loader."""
    wl(data_dir, "workspace", "create", "shop")
    for name, event in (("purchases", "Product Purchased"), ("refunds", "Order Refunded")):
        out = wl(
            data_dir,
            *("import", "events", str(tmp_path / f"{name}.csv"), *MAPPING),
            *("--set", f"event={event}", "--json"),
        )
        assert json.loads(out)["rejected"] == 0
    process = Process(Settings(data_dir=data_dir), {Role.PROFILES, Role.LOADER})
    process.runtime.drain()
    process.runtime.stop()
    process.store.close()
    return data_dir


def wl(data_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(cli.app, [*args, "--data-dir", str(data_dir)])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def report(data_dir: Path, *args: str) -> Any:
    return json.loads(wl(data_dir, "report", *args, "--workspace", "shop", "--json"))


def test_monthly_retention_cohorts(shop: tuple[Path, Any], sample: pd.DataFrame) -> None:
    data_dir, _ = shop
    got = report(
        data_dir,
        *("retention", "--period", "month", "--periods", "12"),
        *("--start-event", "Product Purchased", "--return-event", "Product Purchased"),
    )
    bought = sample[~sample.refund]
    month = bought["at"].dt.year * 12 + bought["at"].dt.month - 1
    first = month.groupby(bought.customer).transform("min")
    active = pd.DataFrame({"customer": bought.customer, "first": first, "month": month})
    active = active.drop_duplicates()
    expected: dict[tuple[str, int], int] = {}
    for (cohort, offset), n in (
        active.groupby([active["first"], active["month"] - active["first"]]).size().items()
    ):
        year, m = divmod(int(cohort), 12)
        expected[(f"{year}-{m + 1:02d}-01", int(offset))] = int(n)
    nonzero = {(r["cohort"], r["period"]): r["customers"] for r in got if r["customers"]}
    assert nonzero == expected
    december = [r for r in got if r["cohort"] == "2010-12-01"]
    assert december[0]["cohort_size"] == december[0]["customers"] > 30
    assert len(december) == 13  # December 2010 to December 2011


def test_purchase_to_refund_funnel(shop: tuple[Path, Any], sample: pd.DataFrame) -> None:
    data_dir, _ = shop
    got = report(data_dir, "funnel", "--step", "Product Purchased", "--step", "Order Refunded")
    bought = sample[~sample.refund]
    refunds = sample[sample.refund]
    window = timedelta(days=14)
    refunded = {
        c
        for c, r in zip(refunds.customer, refunds["at"], strict=True)
        if ((bought.customer == c) & (bought["at"] <= r) & (bought["at"] >= r - window)).any()
    }
    assert [s["customers"] for s in got] == [bought.customer.nunique(), len(refunded)]
    assert 0 < len(refunded) < bought.customer.nunique()

    by_country = report(
        data_dir,
        *("funnel", "--step", "Product Purchased", "--step", "Order Refunded"),
        *("--breakdown", "properties.country"),
    )
    first_steps = {r["breakdown"]: r["customers"] for r in by_country if r["step"] == 1}
    assert sum(first_steps.values()) == bought.customer.nunique()
    assert max(first_steps, key=first_steps.__getitem__) == "United Kingdom"


def test_stages_and_journey_map(
    shop: tuple[Path, Any], sample: pd.DataFrame, tmp_path: Path
) -> None:
    data_dir, _ = shop
    model = tmp_path / "retail-stages.yaml"
    model.write_text(STAGES)
    as_of = "2011-12-10"
    stages = report(data_dir, "stages", "--model", str(model), "--as-of", as_of)
    orders = sample[~sample.refund].groupby("customer").InvoiceNo.nunique()
    assert [(s["stage"], s["entered"]) for s in stages] == [
        ("first order", len(orders)),
        ("repeat", int((orders >= 2).sum())),
        ("loyal", int((orders >= 5).sum())),
    ]
    assert sum(s["current"] for s in stages) == len(orders)

    common = ("--model", str(model), "--as-of", as_of, "--channel", "properties.country")
    grid = json.loads(
        wl(data_dir, "report", "journey-map", "--workspace", "shop", *common, "--format", "json")
    )
    assert [(s["stage"], s["customers"]) for s in grid["stages"]] == [
        (s["stage"], s["entered"]) for s in stages
    ]
    uk = next(
        c
        for c in grid["cells"]
        if (c["stage"], c["channel"], c["event"])
        == ("first order", "United Kingdom", "Product Purchased")
    )
    assert 0 < uk["customers"] <= len(orders)
    for p in grid["pain_points"]:
        assert p["customers"] >= 10
        assert p["message"]

    for fmt in ("html", "png", "svg"):
        out = tmp_path / f"map.{fmt}"
        wl(data_dir, "report", "journey-map", "--workspace", "shop", *common,
           "--format", fmt, "--output", str(out))  # fmt: skip
        assert out.stat().st_size > 1000
    assert (tmp_path / "map.png").read_bytes().startswith(b"\x89PNG")
    assert "United Kingdom" in (tmp_path / "map.html").read_text()
