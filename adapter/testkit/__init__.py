"""The test kit: `lus-adapter testkit` plays the other parties of a whole LUS case against a vendor's
system (or another adapter) over HTTPS with client certificates, checks each answer, receives and
checks what the target sends, and reports findings that each name the rule broken (README, "The
test kit")."""
