"""Settings: one model, read from LUS_* environment variables (and a .env file if present)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LUS_", env_file=".env", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8080, description="Port the HTTP server listens on.")
    database_url: str = Field(
        "sqlite:///var/lus-adapter.db",
        description="SQLAlchemy URL of the store: SQLite by default, postgresql+psycopg://… for replicas.",
    )
    config_dir: Path = Field(
        PROJECT_ROOT / "examples" / "config",
        description="Folder with parties.yaml: this adapter's identity and the routing table.",
    )
    profiles_dir: Path = Field(PROJECT_ROOT / "profiles", description="FHIR package folder (or .tgz).")
    extra_packages_dir: Path | None = Field(
        None,
        description="Folder of further FHIR package folders or .tgz files (a region's own profiles,"
        " reservnummer systems, codes), loaded beside profiles_dir at start-up.",
    )
    mappings_dir: Path = Field(PROJECT_ROOT / "mappings", description="Folder of mapping rule files.")
    log_level: str = Field("info", description="debug, info, warning or error.")
    log_json: bool = Field(True, description="JSON log lines (false: human-readable console).")
    worker: bool = Field(True, description="Run the delivery worker inside `serve`.")
    worker_poll_seconds: float = Field(
        0.5, description="How often the delivery worker looks for due messages."
    )
    delivery_timeout_seconds: float = Field(10.0, description="HTTP timeout per delivery attempt.")
    delivery_attempts_per_claim: int = Field(
        4, description="Attempts made in one go (with backoff) before the message is put back in the queue."
    )
    delivery_backoff_max_seconds: float = Field(
        60.0, description="Upper bound on the backoff between two attempts (a Retry-After may be longer)."
    )
    database_migrate_on_start: bool = Field(
        True,
        description="Bring the database schema to the latest revision at start-up. Set false in"
        " production and run `lus-adapter db upgrade` as a deployment step; the adapter then refuses"
        " to start on a schema that is not at the latest revision.",
    )
    delivery_concurrency: int = Field(8, ge=1, description="Deliveries in flight at once, per replica.")
    delivery_lease_seconds: float = Field(
        60.0,
        gt=0,
        description="How long a claimed message is this replica's; if it dies, another replica takes"
        " the message after this (raised automatically to outlast the longest claim).",
    )
    delivery_in_claim_wait_seconds: float = Field(
        5.0, ge=0, description="Longest wait between attempts slept in the worker; longer ones requeue."
    )
    delivery_backoff_initial_seconds: float = Field(0.5, gt=0, description="First wait after a failure.")
    delivery_retry_after_max_seconds: float = Field(
        3600.0, ge=0, description="A receiver's Retry-After is honoured up to this."
    )
    delivery_max_attempts: int = Field(
        100, ge=1, description="Attempts before a still-failing message becomes a dead letter."
    )
    delivery_max_age_seconds: float = Field(
        48 * 3600.0,
        gt=0,
        description="Seconds of trying (since acceptance or the last replay) before a dead letter.",
    )
    delivery_breaker_failures: int = Field(
        5, ge=1, description="Consecutive transient failures that open a destination's circuit."
    )
    delivery_breaker_reset_seconds: float = Field(
        30.0, gt=0, description="Seconds a destination's circuit stays open before one trial call."
    )
    kvittens_timeout_seconds: float = Field(
        1800.0,
        gt=0,
        description="A sent message with no ok kvittens from its receiver after this is reported.",
    )
    audit_key: str = Field(
        "change-me-in-production",
        description="Secret for the keyed hash of patient identifiers in the audit log.",
    )
    max_body_bytes: int = Field(5_000_000, description="Largest request body accepted.")
