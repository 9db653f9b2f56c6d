from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from wayline.errors import InvalidMessage
from wayline.import_files import BadRow, ImportFileError, detect_format, open_source
from wayline.import_mapping import ColumnMap, FieldMap, MappingError, cell, parse_set
from wayline.importer import MessageIds, read_ahead


def _events(*maps: str, sets: tuple[str, ...] = (), timezone: str | None = None) -> ColumnMap:
    return ColumnMap.parse("events", maps, sets, timezone)


# --map and --set


def test_map_names_target_column_and_cast() -> None:
    m = FieldMap.parse("properties.price=UnitPrice:float")
    assert (m.target, m.source, m.cast) == (("properties", "price"), "UnitPrice", "float")
    plain = FieldMap.parse("userId=Customer: ID")
    assert (plain.source, plain.cast) == ("Customer: ID", None)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("userId", "expected TARGET=COLUMN"),
        ("=CustomerID", "expected TARGET=COLUMN"),
        ("userId=", "no column"),
        ("user=CustomerID", "unknown target 'user'"),
        ("properties..price=UnitPrice", "not a field path"),
        ("sentAt=Sent", "unknown target 'sentAt'"),
    ],
)
def test_bad_map_says_what_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(MappingError, match=says):
        FieldMap.parse(spec)


def test_set_types_values_in_objects_only() -> None:
    assert parse_set("properties.count=3") == (("properties", "count"), 3)
    assert parse_set("event=404") == (("event",), "404")
    assert parse_set("event=Order Completed") == (("event",), "Order Completed")
    with pytest.raises(MappingError, match="unknown call type"):
        parse_set("type=trak")
    with pytest.raises(MappingError, match="identify"):
        ColumnMap.parse("profiles", sets=["type=track"])


def test_unknown_timezone_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="unknown time zone"):
        ColumnMap.parse("events", timezone="Mars/Olympus")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        ("-3", -3),
        ("2.55", 2.55),
        ("0", 0),
        ("007", "007"),
        ("1e5", "1e5"),
        ("true", True),
        ("false", False),
        ("True", "True"),
        ("1234567890123456789012", "1234567890123456789012"),
        ("85123A", "85123A"),
        ("", ""),
    ],
)
def test_csv_cells_become_numbers_only_when_plainly_numbers(text: str, value: Any) -> None:
    assert cell(text) == value
    assert type(cell(text)) is type(value)


# rows to messages


def test_unmapped_columns_go_to_properties_for_events_and_traits_for_profiles() -> None:
    record = {"userId": "u1", "event": "Signed Up", "plan": "pro", "seats": "3", "note": ""}
    assert _events().message(record, cells=True) == {
        "userId": "u1",
        "event": "Signed Up",
        "type": "track",
        "properties": {"plan": "pro", "seats": 3},
    }
    profile = ColumnMap.parse("profiles").message(
        {"userId": "u1", "email": "a@example.com", "name": "Ann"}, cells=True
    )
    assert profile == {
        "userId": "u1",
        "type": "identify",
        "traits": {"email": "a@example.com", "name": "Ann"},
    }


def test_maps_casts_and_sets_build_the_message() -> None:
    columns = _events(
        "userId=CustomerID:int",
        "properties.order_id=InvoiceNo:str",
        "properties.price=UnitPrice",
        "timestamp=InvoiceDate",
        sets=("event=Order Completed", "properties.currency=GBP"),
        timezone="Europe/London",
    )
    record = {
        "CustomerID": "17850.0",
        "InvoiceNo": "536365",
        "UnitPrice": "2.55",
        "InvoiceDate": "2011-06-01 08:26:00",
        "Country": "United Kingdom",
    }
    assert columns.message(record, cells=True) == {
        "userId": "17850",
        "event": "Order Completed",
        "type": "track",
        "timestamp": "2011-06-01T07:26:00Z",  # British Summer Time is UTC+1
        "properties": {
            "order_id": "536365",
            "price": 2.55,
            "currency": "GBP",
            "Country": "United Kingdom",
        },
    }


def test_a_cast_that_fails_names_the_target_field() -> None:
    with pytest.raises(InvalidMessage) as caught:
        _events("properties.quantity=Quantity:int").message({"Quantity": "a dozen"}, cells=True)
    assert caught.value.field == "properties.quantity"
    assert "a dozen" in caught.value.reason


def test_ndjson_messages_pass_through_with_sent_at_dropped() -> None:
    record: dict[str, Any] = {
        "type": "page",
        "anonymousId": "a1",
        "name": "Home",
        "sentAt": "2020-01-01T00:00:00Z",
        "properties": {"path": "/"},
        "writeKey": "k",
    }
    message = _events("properties.campaign=context.campaign").message(
        {**record, "context": {"campaign": "spring"}}, passthrough=True
    )
    assert message["type"] == "page"
    assert message["name"] == "Home"
    assert "sentAt" not in message
    assert message["properties"] == {"path": "/", "campaign": "spring"}
    assert record["properties"] == {"path": "/"}  # the record itself is untouched


def test_naive_timestamps_are_utc_unless_a_timezone_is_given() -> None:
    record = {"userId": "u", "event": "E", "timestamp": "2024-01-15 12:00:00"}
    assert _events().message(record)["timestamp"] == "2024-01-15 12:00:00"
    in_ny = _events(timezone="America/New_York").message(record)
    assert in_ny["timestamp"] == "2024-01-15T17:00:00Z"
    aware = {**record, "timestamp": "2024-01-15T12:00:00+02:00"}
    assert _events(timezone="America/New_York").message(aware)["timestamp"] == aware["timestamp"]


def test_profiles_need_a_user_id_and_are_identify_calls() -> None:
    profiles = ColumnMap.parse("profiles")
    with pytest.raises(InvalidMessage) as caught:
        profiles.message({"email": "a@example.com"}, cells=True)
    assert caught.value.field == "userId"
    with pytest.raises(InvalidMessage) as caught:
        profiles.message({"type": "track", "userId": "u", "event": "E"}, passthrough=True)
    assert caught.value.field == "type"


def test_check_columns_names_the_missing_column() -> None:
    columns = _events("userId=CustomerId")
    with pytest.raises(MappingError, match=r"no column 'CustomerId' in f\.csv"):
        columns.check_columns(["CustomerID", "Country"], "f.csv")
    _events("userId=user.id").check_columns(["user"], "f.parquet")


# derived message ids


def test_derived_ids_are_stable_and_count_identical_rows() -> None:
    def ids(messages: list[dict[str, Any]]) -> list[str]:
        assigner = MessageIds()
        out = []
        for m in messages:
            message = dict(m)
            assigner.assign(message)
            out.append(message["messageId"])
        return out

    a = {"type": "track", "event": "E", "userId": "u", "properties": {"x": 1, "y": 2}}
    b = {"type": "track", "event": "E", "userId": "v"}
    first = ids([a, b, a, a])
    assert first == ids([a, b, a, a])
    assert len(set(first)) == 4
    assert first[2] == first[0] + "-1"
    assert first[3] == first[0] + "-2"
    reordered = {"properties": {"y": 2, "x": 1}, "userId": "u", "event": "E", "type": "track"}
    assert ids([reordered]) == [first[0]]
    assert ids([b, a]) == [first[1], first[0]]


def test_a_given_message_id_is_kept() -> None:
    message = {"type": "track", "event": "E", "userId": "u", "messageId": "m-1"}
    MessageIds().assign(message)
    assert message["messageId"] == "m-1"


# formats and readers


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("A.CSV.GZ", "csv"),
        ("a.ndjson", "ndjson"),
        ("a.jsonl.gz", "ndjson"),
        ("a.parquet", "parquet"),
    ],
)
def test_format_from_the_name(name: str, fmt: str) -> None:
    assert detect_format(Path(name)) == fmt


def test_unknown_format_is_an_error() -> None:
    with pytest.raises(ImportFileError, match="cannot tell the format"):
        detect_format(Path("a.json"))
    with pytest.raises(ImportFileError, match="unknown format 'xml'"):
        detect_format(Path("a.csv"), "xml")
    assert detect_format(Path("a.json"), "NDJSON") == "ndjson"


def test_csv_rows_carry_the_line_they_start_on(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(
        b"\xef\xbb\xbfa,b\n"  # a byte order mark before the header
        b"1,2\n"
        b"\n"
        b'"multi\nline",3\n'
        b"4,5,6\n"
        b"\xff,7\n"
        b"8,9\n"
    )
    with open_source(path, "csv") as source:
        assert source.columns == ["a", "b"]
        rows = list(source)
    assert rows == [
        (2, {"a": "1", "b": "2"}),
        (4, {"a": "multi\nline", "b": "3"}),
        (6, BadRow("expected 2 columns, found 3", ["4", "5", "6"])),
        (7, BadRow("not valid UTF-8", ["\ufffd", "7"])),
        (8, {"a": "8", "b": "9"}),
    ]


def test_ndjson_gzip_lines_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n\n{oops\n[1, 2]\n{"b": 2}'))
    with open_source(path, "ndjson") as source:
        rows = list(source)
    assert [line for line, _ in rows] == [1, 3, 4, 5]
    assert rows[0][1] == {"a": 1}
    assert isinstance(rows[1][1], BadRow)
    assert rows[1][1].raw == "{oops"
    assert rows[2][1] == BadRow("a line must be a JSON object", [1, 2])
    assert rows[3][1] == {"b": 2}


def test_empty_csv_and_missing_file_are_file_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ImportFileError, match="empty"), open_source(empty, "csv"):
        pass
    with (
        pytest.raises(ImportFileError, match="no such file"),
        open_source(tmp_path / "nope.csv", "csv"),
    ):
        pass


def test_a_mapped_object_joins_the_other_columns() -> None:
    columns = _events("properties=extra:json")
    message = columns.message(
        {"userId": "u", "event": "E", "plan": "pro", "extra": '{"a": 1}'}, cells=True
    )
    assert message["properties"] == {"plan": "pro", "a": 1}


# reading ahead in a thread


def test_read_ahead_keeps_order_and_raises_the_producers_error() -> None:
    def numbers() -> Iterator[int]:
        yield from range(50)
        raise ImportFileError("cut short")

    items = read_ahead(numbers(), depth=2)
    assert [next(items) for _ in range(50)] == list(range(50))
    with pytest.raises(ImportFileError, match="cut short"):
        next(items)


def test_closing_read_ahead_stops_its_thread() -> None:
    def forever() -> Iterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    with closing(read_ahead(forever(), depth=2)) as items:
        assert [next(items) for _ in range(3)] == [0, 1, 2]
    assert not [t for t in threading.enumerate() if t.name == "wayline-import-reader"]


@pytest.mark.parametrize(
    "tail",
    [b"", b"\xff,10\n", b"11,12\n" * 30_000],  # plain; with bytes not UTF-8; past the field limit
)
def test_an_unterminated_quote_is_reported_with_the_line_it_starts_on(
    tmp_path: Path, tail: bytes
) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b'a,b\n1,2\n"never closed,3\n4,5\n' + tail)
    with open_source(path, "csv") as source:
        rows = list(source)
    assert rows[0] == (2, {"a": "1", "b": "2"})
    line, bad = rows[1]
    assert line == 3
    assert isinstance(bad, BadRow)
    assert "unterminated quote" in bad.reason
    assert "line 3" in bad.reason
    assert "UTF-8" not in bad.reason
    assert len(rows) == 2
