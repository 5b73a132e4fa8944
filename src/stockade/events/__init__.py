"""The audit log: security-relevant events with who, what, when and from where."""
