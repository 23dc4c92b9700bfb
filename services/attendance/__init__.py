"""Attendance: its own copy of the roster plus presences per (program_id, nip, session);
decides completion by the program's rule and publishes `completed` once."""
