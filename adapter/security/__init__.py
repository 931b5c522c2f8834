"""Security: who is calling, what they may do, and the audit trail."""
