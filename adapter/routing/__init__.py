"""Routing: the routing table, choosing recipients, delivering the outbox."""
