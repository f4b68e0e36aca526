-- The last 30 daily runs (rebalancing_log), newest first: what each decided, what it traded and how
-- it ended; a single 'no run recorded' row when there is none yet. post_value is an estimate (equity
-- less the plan's modelled costs) until the orders fill.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3).
SELECT COALESCE(r.status, 'no run recorded') AS status,
       r.rebalance_date,
       r.account_id,
       r.mode,
       r.attempt,
       r.forced,
       r.market_regime AS regime,
       r.strategy_selected AS strategy,
       ROUND(CAST(r.meta_model_confidence AS NUMERIC), 2) AS confidence,
       r.pre_rebalance_value AS pre_value,
       r.post_rebalance_value AS post_value,
       r.num_buys AS buys,
       r.num_sells AS sells,
       ROUND(CAST(r.total_turnover AS NUMERIC), 4) AS turnover,
       r.risk_verdict,
       r.error,
       r.id AS run_id
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN rebalancing_log AS r ON 1 = 1
ORDER BY r.rebalance_date DESC, r.id DESC
LIMIT 30;
