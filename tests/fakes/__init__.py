"""Transport-level fakes of external services (brokers, data vendors) for tests."""
