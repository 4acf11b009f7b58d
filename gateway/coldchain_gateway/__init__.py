"""coldchain gateway: sample probes, keep every reading in an outbox, publish until durable."""
