"""The FHIR kernel every layer shares: issues and the OperationOutcome they become, `Rejected`, the
one root of every refusal that answers with them, the Bundle index, FHIRPath compiled, and ids. It
imports nothing else of the adapter."""
