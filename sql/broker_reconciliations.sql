-- Reconciliations of accounts held at a live broker (Alpaca, Schwab) with the fund's ledger, newest
-- first: matched, explained (a split, cash within the tolerance), stopped (the run sent nothing), or
-- accepted by a person (who and why). The differences are JSON: [{kind, ticker, fund, broker, explanation}].
-- A single 'no reconciliation yet' row when there is none.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3).
SELECT COALESCE(CAST(r.id AS VARCHAR(20)), 'no reconciliation yet') AS reconciliation_id,
       r.account_id,
       r.broker,
       r.mode,
       r.session,
       r.checked_at,
       r.outcome,
       r.cash,
       r.equity,
       r.accepted_by,
       r.reason,
       r.differences
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN broker_reconciliations AS r ON 1 = 1
ORDER BY r.checked_at DESC, r.id DESC
LIMIT 50;
