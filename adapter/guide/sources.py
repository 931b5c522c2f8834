"""What the guide is generated from, each read through the adapter's own loader: the validator
(profiles/), the mapping rules and dialects (mappings/), the step table and the LUS rules (config)
and the example messages. Nothing here states a fact of its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from adapter.config import Settings
from adapter.mapping.dialects import Dialects
from adapter.mapping.engine import Mapper
from adapter.process.rules import ProcessRules
from adapter.routing.steps import StepTable, load_step_table
from adapter.routing.table import RoutingTable, load_routing_table
from adapter.rules_config import load_rules
from adapter.runtime import Runtime
from adapter.validation.validator import Validator

# The example cases, in the order their messages are sent; the first holds the whole road, the
# others the steps the first does not take (examples/bundles/*/NN-<step>.json).
CASES = ("canonical", "canonical-avliden", "canonical-signoff")


@dataclass(frozen=True)
class Example:
    case: str  # the folder: an example case of CASES or a dialect's name
    name: str  # the file name, e.g. 01-inskrivningsmeddelande.json
    bundle: dict[str, Any]

    @property
    def step(self) -> str | None:
        """The LUS event code a canonical message carries (MessageHeader.eventCoding.code)."""
        entries = self.bundle.get("entry") or [{}]
        header = entries[0].get("resource") or {}
        return (header.get("eventCoding") or {}).get("code")

    @property
    def path(self) -> str:
        return f"{self.case}/{self.name}"


@dataclass(frozen=True)
class Sources:
    validator: Validator
    mapper: Mapper
    dialects: Dialects
    steps: StepTable
    rules: ProcessRules
    routing: RoutingTable
    profiles_dir: Path
    examples: dict[str, list[Example]]  # folder → its messages in order

    @classmethod
    def load(cls, settings: Settings, runtime: Runtime | None = None) -> Sources:
        """From the configured folders; a running adapter passes what it has read already."""
        if runtime is not None:
            validator, mapper, steps, routing = (
                runtime.validator,
                runtime.mapper,
                runtime.steps,
                runtime.routing,
            )
        else:
            validator = Validator.from_path(settings.profiles_dir, settings.extra_packages_dir)
            mapper = Mapper.from_dir(settings.mappings_dir, validator.package)
            config = settings.config_folder()
            steps, routing = load_step_table(config), load_routing_table(config)
        return cls(
            validator=validator,
            mapper=mapper,
            dialects=Dialects.from_dir(settings.mappings_dir, mapper),
            steps=steps,
            # Where the runtime has no rules, the loader says why (the guide answers 503 with it).
            rules=runtime.rules if runtime and runtime.rules else load_rules(settings.config_folder()),
            routing=routing,
            profiles_dir=settings.profiles_dir,
            examples=load_examples(settings.examples_dir),
        )

    def example_of(self, step: str) -> Example | None:
        """The first message of the example cases that carries `step`."""
        for case in CASES:
            for example in self.examples.get(case, []):
                if example.step == step:
                    return example
        return None

    def party_name(self, hsa_id: str) -> str:
        party = self.routing.party(hsa_id)
        return party.name if party and party.name else hsa_id


def load_examples(folder: Path | None) -> dict[str, list[Example]]:
    """Every `<case>/NN-<step>.json` under `folder`, in file order; none when it is unset or does not
    exist."""
    found: dict[str, list[Example]] = {}
    if folder is None or not folder.is_dir():
        return found
    for case in sorted(p for p in folder.iterdir() if p.is_dir()):
        found[case.name] = [
            Example(case.name, file.name, orjson.loads(file.read_bytes()))
            for file in sorted(case.glob("*.json"))
        ]
    return found
