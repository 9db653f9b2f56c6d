"""Configuration, read from ``WAYLINE_*`` environment variables and command-line options."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a Wayline process needs to know before it starts.

    Every field can be set as an environment variable with the ``WAYLINE_`` prefix,
    e.g. ``WAYLINE_DATABASE_URL=postgresql://localhost/wayline``.
    """

    model_config = SettingsConfigDict(env_prefix="WAYLINE_", extra="ignore")

    #: Where the embedded store and warehouse live.
    data_dir: Path = Path("wayline-data")
    #: The state store. Empty means a SQLite file in the data dir.
    database_url: str = ""
    #: The analytics warehouse. Empty means a DuckDB file in the data dir.
    warehouse_url: str = ""
    #: After an erase, the warehouse is rewritten (DuckDB) or vacuumed (PostgreSQL) so that
    #: the deleted values cannot be read from its files: at most once per this many minutes.
    warehouse_compact_minutes: float = Field(default=10.0, ge=0)
    #: The key workspace secrets (SMTP passwords, provider tokens, signing secrets) are
    #: encrypted with at rest (``wayline secrets key`` makes one), or a file holding it.
    #: Neither: ``secret.key`` in the data dir, made on first use. Every host of a scaled
    #: deployment needs the same key.
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None
    #: Keys used before, comma-separated: they still decrypt (``wayline secrets rotate``).
    secret_keys_old: SecretStr | None = None
    #: SQLite ``synchronous`` pragma. NORMAL survives a crash of the process (WAL);
    #: FULL also survives a power cut, at the cost of one fsync per commit.
    sqlite_synchronous: str = "NORMAL"
    #: Largest accepted event, in bytes (the Segment limit).
    max_event_bytes: int = 32 * 1024
    #: Largest accepted batch request, in bytes, after decompression (the Segment limit).
    max_batch_bytes: int = 500 * 1024
    #: Largest request body of any other route, in bytes as sent; counted while it is read.
    max_request_bytes: int = 1024 * 1024
    #: How many inbox events a consumer (profiles, loader) takes per transaction.
    consumer_batch_size: int = 2000
    #: How long an idle consumer sleeps before it looks at the inbox again, in seconds.
    consumer_idle_seconds: float = Field(default=0.05, ge=0.001)
    #: Failures of one inbox row, on its own, before a consumer parks it as a dead letter
    #: and goes on with the rows after it (``wayline deadletters``).
    consumer_max_attempts: int = Field(default=5, ge=1)
    #: Webhook targets allowed although they are on loopback or private networks: host
    #: names or IP addresses, comma-separated (e.g. ``127.0.0.1``). Empty allows none.
    webhook_allowed_hosts: str = ""
    #: Seconds a webhook may take to connect, to send, and to answer.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    #: Delivery attempts of an outbox message before it becomes a dead letter.
    dispatch_max_attempts: int = Field(default=12, ge=1)
    #: Outbox messages a dispatcher claims at once, and how many it delivers in parallel.
    dispatch_batch_size: int = Field(default=100, ge=1)
    dispatch_concurrency: int = Field(default=16, ge=1)
    #: The address customers' browsers and mail providers reach this Wayline at: the
    #: base of the open, click and unsubscribe links in messages.
    public_url: str = "http://localhost:8000"
    #: How long the links in a message work (opens, clicks, unsubscribes), in days.
    tracking_token_days: int = Field(default=365, ge=1)
    #: Seconds an SMTP server may take to connect and to answer each command.
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    #: The web origins whose pages may call the content API from the browser (CORS),
    #: comma-separated (``https://shop.example.com,https://www.example.com``); ``*`` any.
    content_allowed_origins: str = ""

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'wayline.db').resolve()}"

    def resolved_warehouse_url(self) -> str:
        if self.warehouse_url:
            return self.warehouse_url
        return f"duckdb:///{(self.data_dir / 'warehouse.duckdb').resolve()}"
