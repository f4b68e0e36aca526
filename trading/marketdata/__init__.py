"""Market data in the database: bar imports, securities, fundamentals, the point-in-time view,
the trading calendar, the data gate and the synthetic demo market."""
