"""Settings: one model, read from LUS_* environment variables (and a .env file if present)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


DEVELOPMENT_AUDIT_KEY = "change-me-in-production"

# Worker threads for messages when LUS_PIPELINE_THREADS is unset and the store is PostgreSQL.
POSTGRES_PIPELINE_THREADS = 4


# The settings by topic, in the order of the model and of docs/configuration.md (a setting in no
# section fails its test).
SECTIONS: dict[str, tuple[str, ...]] = {
    "Server": (
        "host",
        "port",
        "log_level",
        "log_json",
        "worker",
        "pipeline_threads",
    ),
    "Configuration folders": (
        "config_dir",
        "profiles_dir",
        "extra_packages_dir",
        "unknown_modifier_extensions",
        "mappings_dir",
        "examples_dir",
    ),
    "Store": (
        "database_url",
        "database_migrate_on_start",
        "case_cache_size",
    ),
    "Delivery": (
        "worker_poll_seconds",
        "delivery_timeout_seconds",
        "delivery_attempts_per_claim",
        "delivery_backoff_initial_seconds",
        "delivery_backoff_max_seconds",
        "delivery_in_claim_wait_seconds",
        "delivery_retry_after_max_seconds",
        "delivery_concurrency",
        "delivery_lease_seconds",
        "delivery_max_attempts",
        "delivery_max_age_seconds",
        "delivery_breaker_failures",
        "delivery_breaker_reset_seconds",
        "kvittens_timeout_seconds",
    ),
    "Request limits": (
        "max_body_bytes",
        "max_json_depth",
        "max_json_array_items",
        "max_json_string_chars",
        "max_json_object_keys",
        "max_json_members",
    ),
    "Security": (
        "audit_key",
        "auth_mode",
        "tls_cert_file",
        "tls_key_file",
        "tls_ca_file",
        "tls_party_attribute",
        "tls_client_cert_file",
        "tls_client_key_file",
        "admin_parties",
        "jwt_jwks_file",
        "jwt_jwks_url",
        "jwt_issuer",
        "jwt_audience",
        "jwt_algorithms",
        "jwt_party_claim",
        "jwt_roles_claim",
    ),
}


class ConfigDirMissing(ValueError):
    """LUS_CONFIG_DIR is unset where a command needs the routing table, step table and rules."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LUS_", env_file=".env", extra="ignore")

    # --- server ---
    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8080, description="Port the HTTP server listens on.")
    log_level: str = Field("info", description="debug, info, warning or error.")
    log_json: bool = Field(True, description="JSON log lines (false: human-readable console).")
    worker: bool = Field(True, description="Run the delivery worker inside `serve`.")
    pipeline_threads: int | None = Field(
        None,
        ge=0,
        description="Messages processed at once, each in a worker thread; more wait their turn in"
        " arrival order. 0: one at a time on the server's event loop, one per turn of the loop, with"
        " no hand-over to a thread and back; other requests then wait for at most one message per"
        " step of their own. Python runs one thread at a time, so threads only help where a message"
        " waits: on SQLite it waits for little but the disk's sync, and the hand-overs cost more CPU"
        " than they free; on PostgreSQL every statement waits on the network, and a few threads let"
        " one message compute meanwhile (bench.http measures both; bench/results/pipeline-threads.md)."
        f" Unset: 0 on SQLite, {POSTGRES_PIPELINE_THREADS} on PostgreSQL.",
    )

    # --- configuration folders ---
    config_dir: Path | None = Field(
        None,
        description="Folder with parties.yaml (this adapter's identity and the routing table),"
        " lus-steps.yaml (who may send each LUS step and who receives it) and lus-rules.yaml (the"
        " regional LUS rules). Required by every command that routes or judges cases (serve,"
        " deliver, import, report, …); the repository's example is examples/config.",
    )
    profiles_dir: Path = Field(PROJECT_ROOT / "profiles", description="FHIR package folder (or .tgz).")
    extra_packages_dir: Path | None = Field(
        None,
        description="Folder of further FHIR package folders or .tgz files (a region's own profiles,"
        " reservnummer systems, codes), loaded beside profiles_dir at start-up.",
    )
    unknown_modifier_extensions: Literal["reject", "warn"] = Field(
        "reject",
        description="A modifierExtension whose definition is in no loaded package changes the meaning of"
        " the resource in a way the adapter cannot read: reject the message (an error in the"
        " OperationOutcome), or warn and accept it.",
    )
    mappings_dir: Path = Field(PROJECT_ROOT / "mappings", description="Folder of mapping rule files.")
    examples_dir: Path | None = Field(
        None,
        description="Folder of example message Bundles (one folder per case or dialect) that the"
        " implementation guide (/guide, `lus-adapter guide build`) shows and checks; unset, the guide"
        " shows none. The repository's examples are in examples/bundles.",
    )

    # --- store ---
    database_url: str = Field(
        f"sqlite:///{PROJECT_ROOT / 'var' / 'lus-adapter.db'}",
        description="SQLAlchemy URL of the store: SQLite by default, postgresql+psycopg://… for replicas"
        " (needs the `postgres` extra: pip install 'lus-adapter[postgres]'). The default file is"
        " inside the installation, the same whatever the working directory; commands that only read"
        " refuse a SQLite file that does not exist.",
    )
    database_migrate_on_start: bool = Field(
        True,
        description="Bring the database schema to the latest revision at start-up. Set false in"
        " production and run `lus-adapter db upgrade` as a deployment step; the adapter then refuses"
        " to start on a schema that is not at the latest revision.",
    )
    case_cache_size: int = Field(
        1000,
        ge=1,
        description="Cases kept in memory per process, each with its FHIR resources as read: a case"
        " not among them is rebuilt from its event log when next written or read. The least recently"
        " used is dropped first.",
    )

    # --- delivery ---
    worker_poll_seconds: float = Field(
        0.5, description="How often the delivery worker looks for due messages."
    )
    delivery_timeout_seconds: float = Field(10.0, description="HTTP timeout per delivery attempt.")
    delivery_attempts_per_claim: int = Field(
        4, description="Attempts made in one go (with backoff) before the message is put back in the queue."
    )
    delivery_backoff_initial_seconds: float = Field(0.5, gt=0, description="First wait after a failure.")
    delivery_backoff_max_seconds: float = Field(
        60.0, description="Upper bound on the backoff between two attempts (a Retry-After may be longer)."
    )
    delivery_in_claim_wait_seconds: float = Field(
        5.0, ge=0, description="Longest wait between attempts slept in the worker; longer ones requeue."
    )
    delivery_retry_after_max_seconds: float = Field(
        3600.0, ge=0, description="A receiver's Retry-After is honoured up to this."
    )
    delivery_concurrency: int = Field(8, ge=1, description="Deliveries in flight at once, per replica.")
    delivery_lease_seconds: float = Field(
        60.0,
        gt=0,
        description="How long a claimed message is this replica's; if it dies, another replica takes"
        " the message after this (raised automatically to outlast the longest claim).",
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

    # --- request limits ---
    max_body_bytes: int = Field(5_000_000, description="Largest request body accepted.")
    max_json_depth: int = Field(64, ge=2, description="Deepest JSON nesting accepted in a request body.")
    max_json_array_items: int = Field(1000, ge=1, description="Most elements of any one JSON array.")
    max_json_string_chars: int = Field(100_000, ge=1, description="Longest JSON string accepted.")
    max_json_object_keys: int = Field(
        200,
        ge=1,
        description="Most members of any one JSON object (the largest FHIR type has fewer elements);"
        " a body with more is refused right after parsing, before anything walks it.",
    )
    max_json_members: int = Field(
        50_000,
        ge=1,
        description="Most members of all JSON objects of a body together (a 1000-entry message has"
        " about 13 000); counted before parsing where the body is compact JSON, so that a body"
        " built of members is refused without the cost of parsing it.",
    )

    # --- security ---
    audit_key: str = Field(
        DEVELOPMENT_AUDIT_KEY,
        description="Secret for the keyed hash of patient identifiers in the audit log. Must be set"
        " (to a random secret of at least 32 bytes, none of the values published in this repository)"
        " unless LUS_AUTH_MODE is development: with a known key, anyone holding the log can hash"
        " every personnummer and find the patient.",
    )
    auth_mode: Literal["development", "mtls", "jwt", "mtls-or-jwt"] = Field(
        "development",
        description="How callers are identified. development: NO authentication, the X-LUS-Party"
        " header names the caller (without it, the caller is this adapter's own party with the admin"
        " role); left at its default it is refused on any address but loopback. mtls: the client"
        " certificate (LUS_TLS_*). jwt: an OAuth2 bearer token (LUS_JWT_*). mtls-or-jwt: either.",
    )
    tls_cert_file: Path | None = Field(None, description="Server certificate (PEM): serve HTTPS.")
    tls_key_file: Path | None = Field(None, description="Private key of the server certificate (PEM).")
    tls_ca_file: Path | None = Field(
        None, description="CA certificates (PEM) that client certificates must chain to (mutual TLS)."
    )
    tls_party_attribute: str = Field(
        "serialNumber",
        description="Subject attribute of a client certificate that holds the party's HSA-id (SITHS"
        " certificates carry it in serialNumber); a name (serialNumber, CN, O, OU) or a dotted OID.",
    )
    tls_client_cert_file: Path | None = Field(
        None, description="Certificate (PEM) the delivery worker presents to other parties' adapters."
    )
    tls_client_key_file: Path | None = Field(None, description="Private key of tls_client_cert_file.")
    admin_parties: list[str] = Field(
        [],
        description="HSA-ids whose client certificate carries the admin role: /admin/*, and reading"
        " every case the adapter holds (any other party reads only the cases it is a party to)."
        " A JSON list.",
    )
    jwt_jwks_file: Path | None = Field(None, description="JWKS file with the token issuer's public keys.")
    jwt_jwks_url: str | None = Field(None, description="JWKS URL of the token issuer (fetched, cached).")
    jwt_issuer: str | None = Field(None, description="Required `iss` of bearer tokens.")
    jwt_audience: str | None = Field(None, description="Required `aud` of bearer tokens.")
    jwt_algorithms: list[str] = Field(["RS256", "ES256"], description="Accepted signing algorithms.")
    jwt_party_claim: str = Field(
        "sub", description="Claim holding the caller's HSA-id (client credentials: the client id)."
    )
    jwt_roles_claim: str = Field(
        "roles", description="Claim listing roles (a list, or a space-separated string); `admin` is one."
    )

    def config_folder(self) -> Path:
        """LUS_CONFIG_DIR, which every command that routes or judges cases needs."""
        if self.config_dir is None:
            raise ConfigDirMissing(
                "no configuration folder: set LUS_CONFIG_DIR (serve: or --config-dir) to the folder with"
                " parties.yaml, lus-steps.yaml and lus-rules.yaml (the repository's example: examples/config)"
            )
        return self.config_dir

    def pipeline_threads_for(self, sqlite: bool) -> int:
        """LUS_PIPELINE_THREADS, or its default for the store: 0 (the event loop) on SQLite."""
        if self.pipeline_threads is not None:
            return self.pipeline_threads
        return 0 if sqlite else POSTGRES_PIPELINE_THREADS
