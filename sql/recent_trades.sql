-- The last 50 orders (trade_executions), newest first: what was asked, what filled at which price,
-- and why an order did not fill; a single 'no order recorded' row when there is none yet.
-- session_date is the close the order was sent after; a market order fills at the next session's
-- open. notional is the fill's gross value (price x filled quantity), before commission.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3).
SELECT COALESCE(t.status, 'no order recorded') AS status,
       t.session_date,
       t.account_id,
       t.ticker,
       t.side,
       t.quantity,
       t.price AS fill_price,
       t.filled_quantity,
       t.commission,
       ROUND(t.price * t.filled_quantity, 2) AS notional,
       t.client_order_id,
       t.broker,
       t.rebalance_id AS run_id,
       t.reason
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN trade_executions AS t ON 1 = 1
ORDER BY t.session_date DESC, t.id DESC
LIMIT 50;
