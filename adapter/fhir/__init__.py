"""The FHIR kernel every layer shares: issues and the OperationOutcome they become, and `Rejected`,
the one root of every refusal that answers with them. It imports nothing else of the adapter."""
