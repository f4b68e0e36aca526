-- Stored backtests (`fund backtest run`), newest first: span, main variant, and for each replayed variant
-- and the benchmark its first and last equity, total return, orders sent, fills and costs paid.
-- A single 'no backtest stored' row when there is none yet.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3).
SELECT COALESCE(CAST(r.id AS VARCHAR(20)), 'no backtest stored') AS run_id,
       r.name,
       r.start_date,
       r.end_date,
       r.sessions,
       r.main_variant,
       v.variant,
       v.first_equity,
       v.last_equity,
       -- 1.0 * keeps SQLite from integer division: it stores whole amounts as integers.
       ROUND(1.0 * v.last_equity / NULLIF(v.first_equity, 0) - 1, 6) AS total_return,
       (SELECT COUNT(*) FROM backtest_orders AS o WHERE o.run_id = r.id AND o.variant = v.variant) AS orders,
       (SELECT COUNT(*) FROM backtest_fills AS f WHERE f.run_id = r.id AND f.variant = v.variant) AS fills,
       v.costs_paid,
       r.code_version,
       r.data_fingerprint
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN backtest_runs AS r ON 1 = 1
LEFT JOIN (
    SELECT e.run_id,
           e.variant,
           MAX(CASE WHEN e.session = b.first_session THEN e.equity END) AS first_equity,
           MAX(CASE WHEN e.session = b.last_session THEN e.equity END) AS last_equity,
           SUM(e.commission + e.slippage) AS costs_paid
    FROM backtest_equity AS e
    JOIN (
        SELECT run_id, variant, MIN(session) AS first_session, MAX(session) AS last_session
        FROM backtest_equity
        GROUP BY run_id, variant
    ) AS b ON b.run_id = e.run_id AND b.variant = e.variant
    GROUP BY e.run_id, e.variant
) AS v ON v.run_id = r.id
ORDER BY r.id DESC, CASE WHEN v.variant = r.main_variant THEN 0 WHEN v.variant = 'benchmark' THEN 2 ELSE 1 END,
         v.variant;
