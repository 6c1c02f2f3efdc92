"""The gateway: events in, a durable journal, dispatch to PMS protocol adapters."""
