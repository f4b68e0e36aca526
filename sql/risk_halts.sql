-- Drawdown halts, active first, then the most recent lifted ones; a single 'no halt recorded'
-- row when there has never been one. An active halt means the account may only reduce risk.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3).
SELECT CASE
           WHEN h.id IS NULL THEN 'no halt recorded'
           WHEN h.resumed_at IS NULL THEN 'HALTED (reduce-only)'
           ELSE 'resumed'
       END AS state,
       h.account_id,
       h.triggered_on,
       h.drawdown,
       h.equity,
       h.peak_equity,
       h.reason,
       h.resumed_at,
       h.resumed_by,
       h.resume_policy,
       h.resume_reason
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN risk_halts AS h ON 1 = 1
ORDER BY CASE WHEN h.resumed_at IS NULL THEN 0 ELSE 1 END, h.triggered_on DESC, h.id DESC
LIMIT 20;
