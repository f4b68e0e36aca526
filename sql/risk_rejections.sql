-- Daily runs the risk manager stopped or sent to a person, newest first: verdict reject or
-- needs_approval, or status rejected (a risk rejection, or an approval that was refused or
-- expired), with the approval's decision when there was one. A single 'no rejection recorded' row
-- when there is none.
-- risk_reasons is the risk manager's whole JSON record: its "reasons" list holds one
-- {rule, severity, message, tickers} object per rule (the ones with severity breach, reject or
-- adjusted explain the verdict), beside the raw, current and adjusted weights. Only the whole column
-- is shown because no JSON accessor is common to PostgreSQL and every SQLite a reader may have;
-- on PostgreSQL or SQLite 3.38 and newer, `r.risk_reasons -> 'reasons'` gives the list alone.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3).
SELECT COALESCE(r.status, 'no rejection recorded') AS status,
       r.rebalance_date,
       r.account_id,
       r.mode,
       r.attempt,
       r.risk_verdict,
       r.market_regime AS regime,
       r.strategy_selected AS strategy,
       ROUND(CAST(r.meta_model_confidence AS NUMERIC), 2) AS confidence,
       ROUND(CAST(r.total_turnover AS NUMERIC), 4) AS turnover,
       a.decision AS approval,
       a.decided_by,
       r.error,
       r.id AS run_id,
       r.risk_reasons
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN rebalancing_log AS r
       ON r.risk_verdict IN ('reject', 'needs_approval') OR r.status = 'rejected'
LEFT JOIN approvals AS a ON a.rebalance_id = r.id
ORDER BY r.rebalance_date DESC, r.id DESC
LIMIT 30;
