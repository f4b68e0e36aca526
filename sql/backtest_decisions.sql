-- What the main variant of each stored backtest decided, by regime and selected strategy: sessions,
-- mean selector confidence, risk verdicts, plans that needed approval and failed runs (first attempts).
-- A single 'no backtest stored' row when there is none yet.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3).
SELECT COALESCE(CAST(d.run_id AS VARCHAR(20)), 'no backtest stored') AS run_id,
       d.regime,
       d.strategy,
       d.sessions,
       d.mean_confidence,
       d.approved,
       d.needed_approval,
       d.rejected,
       d.failed
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN (
    SELECT x.run_id,
           x.regime,
           x.strategy,
           COUNT(*) AS sessions,
           ROUND(CAST(AVG(x.confidence) AS NUMERIC), 3) AS mean_confidence,
           SUM(CASE WHEN x.risk_verdict = 'approve' THEN 1 ELSE 0 END) AS approved,
           SUM(CASE WHEN x.needed_approval THEN 1 ELSE 0 END) AS needed_approval,
           SUM(CASE WHEN x.risk_verdict = 'reject' THEN 1 ELSE 0 END) AS rejected,
           SUM(CASE WHEN x.status = 'failed' THEN 1 ELSE 0 END) AS failed
    FROM backtest_decisions AS x
    JOIN backtest_runs AS r ON r.id = x.run_id AND r.main_variant = x.variant
    WHERE x.attempt = 1
    GROUP BY x.run_id, x.regime, x.strategy
) AS d ON 1 = 1
ORDER BY d.run_id DESC, d.regime, d.sessions DESC;
