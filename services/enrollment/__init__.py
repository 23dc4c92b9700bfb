"""Enrollment: keeps the roster, one participant per (program_id, nip); the latest `time` wins."""
