"""What a service runs on: the runtime (broker, database, health), messaging, the outbox,
batching, HTTP, operator keys, settings, logs and metrics. Not the contract: see shared/contract/."""
