-- Approvals still waiting for a person (`fund approvals approve|reject`), oldest first, with the run
-- they would release. An approval expires at the next session's open: past_expiry is 'yes' once
-- that moment has passed, and the next daily run will then expire it instead of trading a stale
-- plan. A single 'no pending approval' row when nothing waits.
-- Timestamps are UTC: timestamptz on PostgreSQL; on SQLite, text 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC,
-- which compares as text correctly with SQLite's CURRENT_TIMESTAMP ('YYYY-MM-DD HH:MM:SS', also UTC).
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3).
SELECT COALESCE(a.decision, 'no pending approval') AS decision,
       a.id AS approval_id,
       r.account_id,
       r.rebalance_date,
       r.mode,
       r.status AS run_status,
       r.risk_verdict,
       r.strategy_selected AS strategy,
       ROUND(CAST(r.meta_model_confidence AS NUMERIC), 2) AS confidence,
       r.num_buys AS buys,
       r.num_sells AS sells,
       ROUND(CAST(r.total_turnover AS NUMERIC), 4) AS turnover,
       a.requested_at,
       a.expires_at,
       CASE
           WHEN a.id IS NULL THEN NULL
           WHEN a.expires_at IS NULL THEN 'never'
           WHEN a.expires_at <= CURRENT_TIMESTAMP THEN 'yes'
           ELSE 'no'
       END AS past_expiry,
       r.id AS run_id
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN approvals AS a ON a.decision = 'pending'
LEFT JOIN rebalancing_log AS r ON r.id = a.rebalance_id
ORDER BY a.requested_at, a.id;
