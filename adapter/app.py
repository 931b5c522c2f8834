"""App factory: everything is read and compiled once here, at start-up."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from adapter import __version__
from adapter.api import admin, cases, dashboard, errors, fhir, health, metrics, search, tidbok, validate
from adapter.api.boundary import RefuseControlCharacters
from adapter.config import Settings
from adapter.guide import routes as guide
from adapter.logging import configure_logging
from adapter.mapping.dialects import Dialects
from adapter.mapping.engine import Mapper
from adapter.road import Pipeline
from adapter.routing.delivery import DeliveryWorker
from adapter.routing.policy import Policies, RetryPolicy
from adapter.routing.steps import StepTable, load_step_table
from adapter.routing.table import RoutingTable, check_dialects, load_routing_table
from adapter.security.audit import audit_key
from adapter.security.identity import Authenticator
from adapter.security.limits import JsonLimits
from adapter.security.tls import outbound_client
from adapter.store.store import Store
from adapter.validation.validator import Validator


@dataclass
class Runtime:
    settings: Settings
    store: Store
    validator: Validator
    mapper: Mapper
    routing: RoutingTable
    steps: StepTable
    pipeline: Pipeline
    authenticator: Authenticator

    def delivery_worker(self) -> DeliveryWorker:
        s = self.settings
        default = RetryPolicy(
            timeout=s.delivery_timeout_seconds,
            attempts_per_claim=s.delivery_attempts_per_claim,
            in_claim_wait=s.delivery_in_claim_wait_seconds,
            backoff_initial=s.delivery_backoff_initial_seconds,
            backoff_max=s.delivery_backoff_max_seconds,
            retry_after_max=s.delivery_retry_after_max_seconds,
            max_attempts=s.delivery_max_attempts,
            max_age=s.delivery_max_age_seconds,
            breaker_failures=s.delivery_breaker_failures,
            breaker_reset=s.delivery_breaker_reset_seconds,
        )
        return DeliveryWorker(
            self.store,
            Policies.from_table(default, self.routing),
            concurrency=s.delivery_concurrency,
            client=outbound_client(s, self.routing.self_.hsa_id, 4 * s.delivery_concurrency),
            lease_seconds=s.delivery_lease_seconds,
            kvittens_timeout=s.kvittens_timeout_seconds,
        )


def build_runtime(settings: Settings) -> Runtime:
    # What a person writes (routing, step table, audit key, database URL) is checked before the
    # profiles compile: a mistake there is said at once, not after seconds of start-up.
    routing = load_routing_table(settings.config_dir)
    steps = load_step_table(settings.config_dir)
    if not routing.self_.base_url:
        routing.self_.base_url = own_base_url(settings)
    key = audit_key(settings)
    store = Store.from_url(settings.database_url, migrate=settings.database_migrate_on_start)
    validator = Validator.from_path(
        settings.profiles_dir,
        settings.extra_packages_dir,
        unknown_modifier_extensions=settings.unknown_modifier_extensions,
    )
    mapper = Mapper.from_dir(settings.mappings_dir, validator.package)
    dialects = Dialects.from_dir(settings.mappings_dir, mapper)
    check_dialects(routing, dialects.names())
    pipeline = Pipeline(
        store=store,
        validator=validator,
        mapper=mapper,
        routing=routing,
        steps=steps,
        audit_key=key,
        limits=JsonLimits(
            settings.max_json_depth,
            settings.max_json_array_items,
            settings.max_json_string_chars,
            settings.max_json_object_keys,
            settings.max_json_members,
        ),
        dialects=dialects,
    )
    authenticator = Authenticator.from_settings(
        settings, routing.self_.hsa_id, lambda hsa_id: routing.party(hsa_id) is not None
    )
    return Runtime(settings, store, validator, mapper, routing, steps, pipeline, authenticator)


def own_base_url(settings: Settings) -> str:
    """The FHIR base this adapter advertises when parties.yaml gives no `self.base_url`: the
    address it is bound to (`serve` passes the port actually bound)."""
    from adapter.serving import listening_url

    return f"{listening_url(settings, settings.port)}/fhir"


def settle_heap() -> None:
    """For a process that has compiled what it keeps (profiles, rules, routing): collect the
    start-up garbage, then take the rest out of the cyclic collector's sight. Otherwise every full
    collection walks those ~280 000 long-lived objects (180 ms on the project's 2-core machine,
    during which no message moves); what is made afterwards is collected as before."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else Settings())
    configure_logging(settings.log_level, json=settings.log_json)
    rt = runtime or build_runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if settings.worker:
            worker = app.state.delivery_worker = rt.delivery_worker()
            thread = threading.Thread(
                target=worker.run_forever, args=(stop, settings.worker_poll_seconds), daemon=True
            )
            thread.start()
        yield
        stop.set()
        if thread is not None:
            thread.join(timeout=30)

    app = FastAPI(
        title="LUS adapter",
        version=__version__,
        description="FHIR R4 adapter for Swedish discharge planning (lag 2017:612).",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.add_middleware(RefuseControlCharacters)
    errors.install(app)
    app.include_router(fhir.router)
    app.include_router(health.router)
    app.include_router(admin.router)
    app.include_router(search.router)
    app.include_router(tidbok.router)
    app.include_router(cases.router)
    app.include_router(dashboard.router)
    app.include_router(metrics.router)
    app.include_router(validate.router)
    app.include_router(guide.router)
    return app
