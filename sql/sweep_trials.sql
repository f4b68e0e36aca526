-- Sweeps (`fund sweep run`), newest first, and each configuration of a sweep best first: its settings, the
-- mean of the sweep's metric over its trials done (seeds x windows), trials done and failed, and seconds.
-- `fund sweep show` adds the deflated Sharpe of the best and the probability of backtest overfitting.
-- A single 'no sweep stored' row when there is none yet.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3).
SELECT COALESCE(CAST(s.id AS VARCHAR(20)), 'no sweep stored') AS sweep_id,
       s.name,
       s.kind,
       s.metric,
       s.direction,
       c.configuration,
       c.settings,
       c.mean_metric,
       c.done,
       c.failed,
       c.seconds
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN sweeps AS s ON 1 = 1
LEFT JOIN (
    SELECT t.sweep_id,
           t.configuration,
           MAX(CAST(t.settings AS TEXT)) AS settings,
           AVG(CASE WHEN t.status = 'done' THEN t.metric_value END) AS mean_metric,
           SUM(CASE WHEN t.status = 'done' THEN 1 ELSE 0 END) AS done,
           SUM(CASE WHEN t.status = 'failed' THEN 1 ELSE 0 END) AS failed,
           ROUND(CAST(SUM(t.duration_seconds) AS NUMERIC), 1) AS seconds
    FROM sweep_trials AS t
    GROUP BY t.sweep_id, t.configuration
) AS c ON c.sweep_id = s.id
ORDER BY s.id DESC,
         CASE WHEN c.mean_metric IS NULL THEN 1 ELSE 0 END,
         CASE WHEN s.direction = 'minimize' THEN c.mean_metric ELSE -c.mean_metric END;
