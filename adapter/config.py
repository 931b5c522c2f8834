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
        60.0, description="Upper bound on the wait between two attempts (also caps Retry-After)."
    )
    audit_key: str = Field(
        "change-me-in-production",
        description="Secret for the keyed hash of patient identifiers in the audit log.",
    )
    max_body_bytes: int = Field(5_000_000, description="Largest request body accepted.")
