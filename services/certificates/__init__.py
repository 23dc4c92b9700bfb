"""Certificates: turns `completed` into a numbered, stored, verifiable PDF and announces it."""
