-- Orders not yet final (planned, submitted, accepted, partially_filled), oldest first. A planned
-- order was written by a run but not yet sent (its run waits for approval, or died before sending);
-- the next daily run sends, records or cancels it.
-- sessions_waiting counts the sessions with bars (any ticker) after the close the order was planned
-- at. A market order fills at the first of them, so a sent order still open with a count of 1 waits
-- for the ledger to settle that session, and one with 2 or more is stuck. Age in calendar days is
-- left out: date arithmetic differs between the two databases.
-- A single 'no open order' row when every order is final.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3).
SELECT COALESCE(t.status, 'no open order') AS status,
       t.session_date,
       (SELECT COUNT(DISTINCT b.date) FROM price_bars AS b WHERE b.date > t.session_date) AS sessions_waiting,
       t.account_id,
       t.ticker,
       t.side,
       t.quantity,
       t.filled_quantity,
       t.broker,
       t.order_id,
       t.client_order_id,
       t.rebalance_id AS run_id,
       t.submitted_at,
       t.reason
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN trade_executions AS t ON t.status IN ('planned', 'submitted', 'accepted', 'partially_filled')
ORDER BY t.session_date, t.id;
