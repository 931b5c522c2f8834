"""What a running adapter holds, read and compiled once at start-up in `build_runtime`: the
configuration, the store, the validator and mapper, the routing and step tables, the pipeline, the
authenticator, the regional rules and the read side. Nothing of it is built on a first request."""

from __future__ import annotations

import gc
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from adapter.config import Settings
from adapter.logging import get_logger
from adapter.mapping.dialects import Dialects
from adapter.mapping.engine import Mapper
from adapter.mapping.outbound import Addressing
from adapter.process.rules import ProcessRules
from adapter.read.fhir_view import FhirView
from adapter.read.gauges import gauges
from adapter.read.holdings import Holdings
from adapter.road import Pipeline
from adapter.routing.delivery import DeliveryWorker
from adapter.routing.policy import Policies, RetryPolicy
from adapter.routing.steps import StepTable, load_step_table
from adapter.routing.table import RoutingTable, check_dialects, load_routing_table
from adapter.rules_config import RULES_FILE, load_rules
from adapter.security.access import ReadAudit
from adapter.security.audit import audit_key
from adapter.security.identity import Authenticator
from adapter.security.limits import JsonLimits
from adapter.security.tls import outbound_client
from adapter.store.store import Store
from adapter.validation.validator import Validator

log = get_logger("adapter.runtime")


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
    # The regional LUS rules (settings.config_dir/lus-rules.yaml); None where the folder has none:
    # the case views, the dashboard and the guide then answer 503 naming the file.
    rules: ProcessRules | None
    holdings: Holdings
    fhir_view: FhirView
    audit: ReadAudit  # of reads and refused callers
    gauges: CollectorRegistry  # the store's gauges for GET /metrics

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
    # What a person writes (routing, step table, rules, audit key, database URL) is checked before
    # the profiles compile: a mistake there is said at once, not after seconds of start-up.
    routing = load_routing_table(settings.config_folder())
    steps = load_step_table(settings.config_folder())
    rules = regional_rules(settings)
    if not routing.self_.base_url:
        routing.self_.base_url = own_base_url(settings)
    key = audit_key(settings)
    store = Store.from_url(
        settings.database_url,
        migrate=settings.database_migrate_on_start,
        case_cache_size=settings.case_cache_size,
    )
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
        discharge_waits_for_approval=rules is not None and rules.discharge_waits_for_approval,
    )
    authenticator = Authenticator.from_settings(
        settings, routing.self_.hsa_id, lambda hsa_id: routing.party(hsa_id) is not None
    )
    holdings = Holdings(store, routing)
    addressing = Addressing(
        routing.self_.hsa_id, routing.self_.base_url, pipeline.source_endpoint, pipeline.source_name
    )
    return Runtime(
        settings,
        store,
        validator,
        mapper,
        routing,
        steps,
        pipeline,
        authenticator,
        rules,
        holdings,
        FhirView(mapper, addressing, store.cases),
        ReadAudit(store, key),
        # The clock is looked up at each scrape: tests set the pipeline's after start-up.
        gauges(store, holdings, rules, lambda: pipeline.clock()),
    )


def regional_rules(settings: Settings) -> ProcessRules | None:
    """The rules file of the config folder, checked as a whole; None where there is none."""
    file = settings.config_folder() / RULES_FILE
    if not file.exists():
        log.warning("no regional rules: case views, dashboard and guide answer 503", file=str(file))
        return None
    return load_rules(file)


def own_base_url(settings: Settings) -> str:
    """The FHIR base this adapter advertises when parties.yaml gives no `self.base_url`: the
    address it is bound to (`serve` passes the port actually bound)."""
    from adapter.serving import listening_url

    return f"{listening_url(settings, settings.port)}/fhir"


def settle_heap() -> None:
    """For a process that has compiled what it keeps (profiles, rules, routing): collect the
    start-up garbage, then take the rest out of the cyclic collector's sight. Otherwise every full
    collection walks those long-lived objects, during which no message moves (bench/results/README.md
    has the figures); what is made afterwards is collected as before."""
    gc.collect()
    gc.freeze()
