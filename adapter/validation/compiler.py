"""Compiling profiles into checkers, once, at start-up.

A StructureDefinition's element tree (snapshot.py) becomes ObjectCheckers and ElementCheckers with
their assertions (checkers.py, assertions.py). The R4 base types are compiled the same way, from the
core definitions, and shared by every profile that leaves them unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from adapter.fhir.fhirpath import choice_names, compile_expression
from adapter.validation.assertions import (
    AttachmentSize,
    Binding,
    ExtensionValue,
    Fixed,
    IdentifierRules,
    Invariant,
    Invariants,
    Pattern,
    PeriodOrder,
    ReferenceTarget,
    contains,
)
from adapter.validation.bundle_rules import BundleRules
from adapter.validation.checkers import (
    Assertion,
    ElementChecker,
    ExtensionChecker,
    ObjectChecker,
    PrimitiveChecker,
    ProfiledResource,
    ResourceChecker,
    Slice,
    SliceGroup,
    TypeChecker,
    TypeNotAllowed,
    Where,
)
from adapter.validation.differential import DifferentialPaths
from adapter.validation.invariants import (
    AS_WARNING,
    GUARDS,
    NATIVE,
    PYTHON,
    PYTHON_IN_RESOURCE,
    UNSUPPORTED,
    focus_keys,
    sufficient_keys,
)
from adapter.validation.package import FhirPackage, PackageError
from adapter.validation.r4 import BASE, CoreDefinitions
from adapter.validation.snapshot import Constraint, Discriminator, Node, Slicing, TreeBuilder, TypeRef
from adapter.validation.terminology import Terminology
from adapter.validation.valuesets import Codes, Expander
from adapter.validation.vital_signs import vital_sign_profile


def _python(
    check: Callable[..., list[bool] | None], compiled: Callable[..., list[Any]], *, in_resource: bool = False
) -> Callable[..., list[Any]]:
    """An invariant's Python form (invariants.PYTHON), or with in_resource one that takes %resource
    too (PYTHON_IN_RESOURCE), falling back to the compiled expression where it answers None."""

    def evaluate(focus: Any, variables: Any = None, type_name: Any = None) -> list[Any]:
        data = focus if type(focus) is dict else getattr(focus, "data", focus)  # a fhirpathpy node's
        if not isinstance(data, dict):
            return []
        if in_resource:
            resource = (variables or {}).get("resource")
            result = check(data, resource) if isinstance(resource, dict) else None
        else:
            result = check(data)
        if result is None:  # data the check leaves to the expression
            if getattr(compiled, "fast", False):
                return compiled(focus, variables, type_name)
            return compiled(focus, variables)
        return result

    evaluate.fast = True  # type: ignore[attr-defined]
    return evaluate


_CHOICE_NAMES = choice_names()


def _in_one(invariants: list[Invariant]) -> list[Assertion]:
    """An element's or object's invariants as one assertion (Invariants: planned by the shape of
    the object they see), in declaration order."""
    return [Invariants(invariants)] if invariants else []


_EXTENSION_SLICING = Slicing((Discriminator("value", "url"),), "open")


class Compiler:
    def __init__(
        self,
        core: CoreDefinitions,
        package: FhirPackage,
        terms: Terminology,
        *,
        unknown_modifier_extensions: str = "reject",
    ) -> None:
        self.core = core
        self.unknown_modifier_extensions = unknown_modifier_extensions  # reject | warn
        self.builder = TreeBuilder(core)
        self.env = terms.fhirpath_variables()
        self.identifier_rules = IdentifierRules(terms)
        # the core's own profiles (its extensions, the vital signs), then the package's
        self.definitions = dict(core.profiles) | {
            sd["url"]: sd
            for sd in package.resources("StructureDefinition")
            if sd.get("derivation") == "constraint"
        }
        self.expander = Expander(package.resources("ValueSet"), package.resources("CodeSystem"))
        self._where: dict[str, Where] = {}
        self._trees: dict[str, Node] = {}
        self._base: dict[str, ObjectChecker] = {}
        self._profiles: dict[str, ObjectChecker] = {}
        self._content: dict[str, ObjectChecker] = {}
        self._fhirpath: dict[str, Callable[..., Any]] = {}
        # every invariant met while compiling, by (declaring definition, key): how it runs —
        # "native", "compiled" (adapter.fhir.fhirpath or fhirpathpy) — or why it cannot
        self.invariants: dict[tuple[str, str], str] = {}
        self.primitives = {
            name: PrimitiveChecker(name, p["json"], p.get("regex"), self.where(BASE + name))
            for name, p in core.primitives.items()
        }
        self.resources = ResourceChecker()
        self.extensions = ExtensionChecker()
        self.modifier_extensions = ExtensionChecker(modifier=True)
        self.extensions.base = self.modifier_extensions.base = self.base("Extension")

    # --- what the validator asks for ---

    def base(self, type_name: str) -> ObjectChecker:
        """The R4 base checker of a resource or datatype."""
        checker = self._base.get(type_name)
        if checker is None:
            where = self.where(BASE + type_name)
            checker = ObjectChecker(type_name, type_name, where, is_resource=self.core.is_resource(type_name))
            self._base[type_name] = checker  # before filling: types refer to themselves (Extension)
            self._fill(checker, self.builder.base_tree(type_name), type_name, where, root=True)
        return checker

    def resource(self, type_name: str) -> ObjectChecker | None:
        """The base checker of a concrete resource type (not Resource or DomainResource)."""
        concrete = self.core.is_resource(type_name) and not self.core.types[type_name]["abstract"]
        return self.base(type_name) if concrete else None

    def element_checker(self) -> ObjectChecker:
        return self.base("Element")

    def profile(self, url: str) -> ObjectChecker:
        checker = self._profiles.get(url)
        if checker is None:
            if url.startswith(BASE) and url[len(BASE) :] in self.core.types:
                return self.base(url[len(BASE) :])
            sd = self._definition(url)
            where = self.where(url)
            rtype = sd["type"]
            checker = ObjectChecker(rtype, rtype, where, is_resource=self.core.is_resource(rtype))
            self._profiles[url] = checker
            self._fill(checker, self.tree(url), rtype, where, root=True)
        return checker

    def extension(self, url: str) -> ObjectChecker | None:
        sd = self.definitions.get(url)
        return self.profile(url) if sd is not None and sd.get("type") == "Extension" else None

    def claimed_profiles(self, resource: dict[str, Any]) -> list[ObjectChecker]:
        """The loaded profiles a resource names in meta.profile (unknown ones are not judged), and
        for an Observation of a vital sign the core profile R4 requires of it."""
        rtype = resource.get("resourceType")
        meta = resource.get("meta")
        claimed = meta.get("profile") if type(meta) is dict else None
        if claimed is None and rtype != "Observation":  # most entries: nothing to look up
            return []
        urls = [
            url
            for url in (claimed if type(claimed) is list else ())
            if type(url) is str and url in self.definitions and self.definitions[url].get("type") == rtype
        ]
        implied = vital_sign_profile(resource) if rtype == "Observation" else None
        if implied is not None and implied not in urls:
            urls.append(implied)
        return [self.profile(url) for url in urls]

    def compile_all(self) -> None:
        """Compile every profile of the package and every R4 type now, not on a first request."""
        for url in self.definitions:
            self.profile(url)
        for name, definition in self.core.types.items():
            if not definition["abstract"] or name in ("Element", "BackboneElement"):
                self.base(name)

    def tree(self, url: str) -> Node:
        tree = self._trees.get(url)
        if tree is None:
            if url.startswith(BASE) and url[len(BASE) :] in self.core.types:
                return self.builder.base_tree(url[len(BASE) :])
            sd = self._definition(url)
            tree = self.builder.apply(self.tree(sd.get("baseDefinition", BASE + sd["type"])), sd)
            self._trees[url] = tree
        return tree

    def where(self, url: str) -> Where:
        where = self._where.get(url)
        if where is None:
            sd = self.definitions.get(url)
            name = sd.get("name", url) if sd else f"FHIR R4 {url.removeprefix(BASE)}"
            where = self._where[url] = Where(url, name)
        return where

    def codes(self, value_set: str) -> Codes | None:
        return self.expander.expand(value_set) or self.core.value_sets.get(value_set)

    def _definition(self, url: str) -> dict[str, Any]:
        sd = self.definitions.get(url)
        if sd is None:
            raise PackageError(f"profile {url} is referred to but not loaded")
        return sd

    # --- compiling ---

    def _fill(self, checker: ObjectChecker, node: Node, type_name: str, where: Where, *, root: bool) -> None:
        children = node.children if node.children is not None else self.builder.expand(node)
        for child in children.values():
            element, pairs = self._element(child)
            for key, type_checker in pairs:
                checker.add_field(key, element, type_checker)
            if element.required:
                checker.required.append(element)
        if root:
            checker.assertions += self._invariants(node.constraints, type_name)
        elif type_name in self.core.types and type_name not in ("BackboneElement", "Element"):
            # a datatype a profile reaches into keeps its own invariants (Quantity's qty-3)
            checker.assertions += self._invariants(self.builder.base_tree(type_name).constraints, type_name)
        if type_name == "Identifier":
            checker.assertions.append(self.identifier_rules)
        elif type_name == "Extension":
            checker.assertions.append(ExtensionValue(where))
        elif type_name == "Period":
            checker.assertions.append(PeriodOrder(where))
        elif type_name == "Attachment":
            checker.assertions.append(AttachmentSize(where))
        elif type_name == "Bundle" and root:
            checker.assertions.append(BundleRules(where))
        elif type_name == "StructureDefinition" and root:
            checker.assertions.append(DifferentialPaths(self.builder, where))

    def _element(self, node: Node) -> tuple[ElementChecker, list[tuple[str, TypeChecker]]]:
        where = self.where(node.source)
        element = ElementChecker(node.name, node.path, node.min, node.max, node.base_max != 1, where)
        pairs: list[tuple[str, TypeChecker]] = []
        if node.content_ref and not node.types:
            pairs.append((node.name, self._content_reference(node.content_ref)))
        elif node.choice:
            stem = node.name[:-3]
            allowed = [t.code for t in node.types]
            for t in node.types:
                pairs.append((stem + t.code[:1].upper() + t.code[1:], self._type(node, t)))
            for code in node.base_types:
                if code not in allowed:
                    pairs.append(
                        (stem + code[:1].upper() + code[1:], TypeNotAllowed(node.path, allowed, where))
                    )
        else:
            pairs += [(node.name, self._type(node, t)) for t in node.types[:1]]
        element.assertions = self._item_assertions(node, where)
        own = pairs[0][1] if len(pairs) == 1 else None
        if isinstance(own, ObjectChecker) and own.label == node.path and not own.is_resource:
            # the node's own object checker (a backbone element, or a datatype a profile reaches
            # into): its invariants run in that checker's plan, decided by the keys of each item
            own.assertions += [a for a in element.assertions if isinstance(a, Invariants)]
            element.assertions = [a for a in element.assertions if not isinstance(a, Invariants)]
        if node.types and node.types[0].code == "Identifier":
            element.prepare = self.identifier_rules.normalise
        if node.slices:
            element.slicing = self._slicing(node, where)
        return element, pairs

    def _type(self, node: Node, t: TypeRef) -> TypeChecker:
        code = t.code
        if code in self.primitives:
            return self.primitives[code]
        if t.profiles:
            checker = self.profile(t.profiles[0])
            return ProfiledResource(checker) if checker.is_resource else checker
        if node.children is not None:  # a backbone element, or a datatype a profile reaches into
            checker = ObjectChecker(code, node.path, self.where(node.source))
            self._fill(checker, node, code, self.where(node.source), root=False)
            return checker
        if code == "Extension":
            return self.modifier_extensions if node.name == "modifierExtension" else self.extensions
        if code in ("Resource", "DomainResource") or self.core.is_resource(code):
            return self.resources
        return self.base(code)

    def _content_reference(self, path: str) -> ObjectChecker:
        """Bundle.entry.link is Bundle.link; Questionnaire.item.item recurses: compile once, share."""
        checker = self._content.get(path)
        if checker is None:
            type_name, _, rest = path.partition(".")
            node = self.builder.base_tree(type_name)
            for part in rest.split("."):
                assert node.children is not None
                node = node.children[part]
            where = self.where(BASE + type_name)
            checker = self._content[path] = ObjectChecker("BackboneElement", path, where)
            self._fill(checker, node, "BackboneElement", where, root=False)
        return checker

    def _item_assertions(self, node: Node, where: Where) -> list[Assertion]:
        out: list[Assertion] = []
        if node.fixed is not None:
            out.append(Fixed(node.path, node.fixed, where))
        if node.pattern is not None:
            out.append(Pattern(node.path, node.pattern, where))
        if node.binding:
            codes = self.codes(node.binding)
            if codes:
                out.append(Binding(node.path, node.binding, codes, where))
        if node.constraints:
            code = node.types[0].code if node.types else "BackboneElement"
            out += self._invariants(node.constraints, node.path if code == "BackboneElement" else code)
        if any(t.code == "Reference" for t in node.types):
            out.append(self._reference_target(node, where))
        return out

    def _invariants(self, constraints: Iterable[Constraint], type_name: str) -> list[Assertion]:
        out: list[Invariant] = []
        for c in constraints:
            core = c.source.startswith(BASE) and c.source[len(BASE) :] in self.core.types
            if core and c.key in NATIVE:
                self.invariants[(c.source, c.key)] = "native"
                continue
            # R4's invariants use as() on collections (dom-3: descendants().as(canonical)), which
            # FHIRPath 2 and fhirpathpy allow on one item only: ofType() is what they mean
            expression = c.expression.replace(".as(", ".ofType(") if core else c.expression
            evaluate = self._fhirpath.get(expression)
            if evaluate is None:
                try:
                    evaluate = compile_expression(expression)
                except Exception as exc:  # fhirpathpy's parser raises plain Exceptions
                    if not core:
                        raise PackageError(
                            f"{c.source}: constraint {c.key}: {c.expression!r}: {exc}"
                        ) from exc
                    self.invariants[(c.source, c.key)] = f"not run: fhirpathpy cannot parse it ({exc})"
                    continue
                self._fhirpath[expression] = evaluate
            reason = UNSUPPORTED.get(c.key) if core else None
            if reason:
                self.invariants[(c.source, c.key)] = f"not run: {reason}"
                continue
            if core and c.key in PYTHON:
                evaluate = _python(PYTHON[c.key], evaluate)
            elif core and c.key in PYTHON_IN_RESOURCE:
                evaluate = _python(PYTHON_IN_RESOURCE[c.key], evaluate, in_resource=True)
            self.invariants[(c.source, c.key)] = "compiled"
            if core and c.key in AS_WARNING:
                self.invariants[(c.source, c.key)] = f"runs as a warning: {AS_WARNING[c.key]}"
                c = dataclasses.replace(c, severity="warning")
            keys = focus_keys(c.expression)
            sufficient = sufficient_keys(c.expression, _CHOICE_NAMES)
            guard = GUARDS.get(c.key) if core else None
            out.append(Invariant(c, evaluate, type_name, self.where(c.source), keys, guard, sufficient))
        return _in_one(out)

    def not_run(self) -> dict[tuple[str, str], str]:
        """The invariants met that cannot run or run as warnings, with why (logged at start-up)."""
        return {k: v for k, v in self.invariants.items() if v.startswith(("not run", "runs as"))}

    def _reference_target(self, node: Node, where: Where) -> ReferenceTarget:
        types: set[str] = set()
        profiles: dict[str, list[ObjectChecker]] = {}
        anything = False
        for t in node.types:
            if t.code != "Reference":
                continue
            anything |= not t.targets
            for url in t.targets:
                name = url.removeprefix(BASE)
                if url.startswith(BASE) and name in self.core.types:
                    anything |= name == "Resource"
                    types.add(name)
                    continue
                rtype = self._definition(url)["type"]
                types.add(rtype)
                profiles.setdefault(rtype, []).append(self.profile(url))
        return ReferenceTarget(node.path, None if anything else frozenset(types), profiles, where)

    def _slicing(self, node: Node, where: Where) -> SliceGroup:
        slicing = node.slicing
        if slicing is None and node.name in ("extension", "modifierExtension"):
            slicing = _EXTENSION_SLICING
        if slicing is None:
            raise PackageError(f"{node.source}: {node.path} has slices but no slicing")
        slices = []
        for name, part in node.slices.items():
            element, pairs = self._element(part)
            slices.append(Slice(name, element, pairs[0][1], self._matcher(part, slicing.discriminators)))
        return SliceGroup(node.path, slices, slicing.rules == "closed", where)

    def _matcher(self, part: Node, discriminators: tuple[Discriminator, ...]) -> Callable[[Any], bool]:
        tests = []
        for d in discriminators:
            if d.type not in ("value", "pattern"):
                raise PackageError(
                    f"{part.source}: {part.path}: discriminator type {d.type!r} is not supported"
                )
            expected, exact = self._expected(part, d.path)
            tests.append(([s for s in d.path.split(".") if s != "$this"], expected, exact))

        def matches(item: Any) -> bool:
            for segments, expected, exact in tests:
                values = _values(item, segments)
                if not any((v == expected) if exact else contains(v, expected) for v in values):
                    return False
            return True

        if len(tests) == 1 and tests[0][2] and len(tests[0][0]) == 1:
            return _single_key_matcher(tests[0][0][0], tests[0][1], matches)
        return matches

    def _expected(self, part: Node, path: str) -> tuple[Any, bool]:
        """The fixed (exact) or pattern value a slice has at a discriminator path."""
        found = self._expected_at(part, [s for s in path.split(".") if s != "$this"], part, path)
        if found is None:
            raise PackageError(f"{part.source}: {part.path} has no fixed or pattern value at {path}")
        return found

    def _expected_at(self, node: Node, segments: list[str], part: Node, path: str) -> tuple[Any, bool] | None:
        if not segments:
            if node.fixed is not None:
                return node.fixed, True
            return (node.pattern, False) if node.pattern is not None else None
        if node.children is None and node.types and node.types[0].profiles:
            node = self.tree(node.types[0].profiles[0])  # e.g. the url an extension definition fixes
        children = self.builder.expand(node) if node.children is None else node.children
        child = children.get(segments[0]) or children.get(segments[0] + "[x]")
        if child is None:
            raise PackageError(
                f"{part.source}: {part.path}: no element {segments[0]!r} for discriminator {path}"
            )
        # the value may sit in a slice of the way (bp: component:SystolicBP.code.coding:SBPCode.code)
        for way in (child, *child.slices.values()):
            found = self._expected_at(way, segments[1:], part, path)
            if found is not None:
                return found
        return None


def _single_key_matcher(key: str, expected: Any, general: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """Most slices (extensions by url) are told apart by one fixed value of one key: a dict lookup."""

    def matches(item: Any) -> bool:
        if type(item) is dict:
            value = item.get(key)
            if value is not None and type(value) is not list:
                return bool(value == expected)
        return general(item)  # absent, a list, or a choice type (value → valueCoding)

    return matches


def _values(item: Any, segments: list[str]) -> list[Any]:
    values = [item]
    for segment in segments:
        found: list[Any] = []
        for value in values:
            if not isinstance(value, dict):
                continue
            x = value.get(segment)
            if x is None:  # value → valueCoding
                x = next(
                    (
                        v
                        for k, v in value.items()
                        if k.startswith(segment) and k[len(segment) : len(segment) + 1].isupper()
                    ),
                    None,
                )
            if isinstance(x, list):
                found += x
            elif x is not None:
                found.append(x)
        values = found
    return values
