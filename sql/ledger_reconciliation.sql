-- The fund's record of its paper trading checked against the paper venue's own books, mismatches first.
-- Two independent records are compared: what the fund planned, sent and learned (trade_executions),
-- and what the venue did (paper_orders, paper_fills, paper_cash_journal, paper_position_changes).
--   order:    per client order id, the fund's row against the venue's order: the status, the filled
--             quantity, the average price and the commission must agree. An order one side has and the
--             other does not is a MISMATCH, except a row the fund wrote as 'planned' that the venue
--             has already accepted ('sent, not recorded yet': a run died between the two; the next run
--             records it), and an order the venue has moved on that the fund still holds open
--             ('fund behind the venue': it learns the outcome at its next sync).
--   fills:    per venue order, its filled quantity, average price and commission against its fills.
--   position: per account and ticker, paper_positions.quantity against the position rebuilt from the
--             venue's fills (bought less sold) plus its other changes (splits, cash in lieu, delistings,
--             and an opening position carried over from before the venue kept books).
--   cash:     per account, paper_accounts.cash_balance against the sum of its cash journal.
--   equity:   per account, total_value against the cash plus the positions' market values.
-- A quantity differing by more than 0.000001 shares, or an amount by more than half a cent, is a MISMATCH.
-- A single 'no paper account' row when there is none.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3 3.25 or newer).
WITH
fund_orders AS (
    SELECT account_id, client_order_id, order_id, status, COALESCE(filled_quantity, 0) AS filled_quantity,
           price, COALESCE(commission, 0) AS commission
    FROM trade_executions
    WHERE broker = 'paper' AND account_id IN (SELECT account_id FROM paper_accounts)
      AND (order_id IS NOT NULL OR status = 'planned')
),
order_keys AS (
    SELECT account_id, client_order_id FROM fund_orders
    UNION
    SELECT account_id, client_order_id FROM paper_orders
),
orders AS (
    SELECT 'order' AS item,
           k.account_id,
           COALESCE(v.ticker, (SELECT t.ticker FROM trade_executions AS t
                               WHERE t.client_order_id = k.client_order_id)) AS ticker,
           k.client_order_id,
           f.filled_quantity AS ledger_value,
           v.filled_quantity AS expected_value,
           COALESCE(f.filled_quantity, 0) - COALESCE(v.filled_quantity, 0) AS difference,
           'fund ' || COALESCE(f.status, 'none') || ' / venue ' || COALESCE(v.status, 'none') AS detail,
           CASE
               WHEN f.client_order_id IS NULL THEN 'MISMATCH'
               WHEN v.client_order_id IS NULL AND f.status = 'planned' THEN 'ok'
               WHEN v.client_order_id IS NULL THEN 'MISMATCH'
               WHEN f.status = 'planned' THEN 'sent, not recorded yet'
               WHEN f.order_id <> v.order_id THEN 'MISMATCH'
               WHEN f.status = v.status
                    AND ABS(f.filled_quantity - v.filled_quantity) <= 0.000001
                    AND ABS(f.commission - v.commission) <= 0.005
                    AND (v.filled_quantity = 0 OR ABS(f.price - v.average_price) <= 0.000001) THEN 'ok'
               WHEN f.status IN ('submitted', 'accepted', 'partially_filled')
                    AND v.status <> f.status THEN 'fund behind the venue'
               ELSE 'MISMATCH'
           END AS verdict
    FROM order_keys AS k
    LEFT JOIN fund_orders AS f ON f.account_id = k.account_id AND f.client_order_id = k.client_order_id
    LEFT JOIN paper_orders AS v ON v.account_id = k.account_id AND v.client_order_id = k.client_order_id
),
fill_totals AS (
    SELECT paper_order_id,
           SUM(quantity) AS quantity,
           SUM(quantity * price) AS value,
           SUM(commission) AS commission
    FROM paper_fills
    GROUP BY paper_order_id
),
fills AS (
    SELECT 'fills' AS item,
           o.account_id,
           o.ticker,
           o.client_order_id,
           o.filled_quantity AS ledger_value,
           COALESCE(t.quantity, 0) AS expected_value,
           o.filled_quantity - COALESCE(t.quantity, 0) AS difference,
           'venue order ' || o.order_id || ' ' || o.status AS detail,
           CASE
               WHEN ABS(o.filled_quantity - COALESCE(t.quantity, 0)) > 0.000001 THEN 'MISMATCH'
               WHEN ABS(o.commission - COALESCE(t.commission, 0)) > 0.005 THEN 'MISMATCH'
               WHEN t.quantity > 0 AND ABS(o.average_price - t.value / t.quantity) > 0.000001 THEN 'MISMATCH'
               ELSE 'ok'
           END AS verdict
    FROM paper_orders AS o
    LEFT JOIN fill_totals AS t ON t.paper_order_id = o.id
    WHERE o.filled_quantity > 0 OR t.quantity IS NOT NULL
),
position_moves AS (
    SELECT account_id, ticker, CASE WHEN side = 'buy' THEN quantity ELSE -quantity END AS quantity
    FROM paper_fills
    UNION ALL
    SELECT account_id, ticker, quantity
    FROM paper_position_changes
),
rebuilt AS (
    SELECT account_id, ticker, SUM(quantity) AS quantity
    FROM position_moves
    GROUP BY account_id, ticker
),
position_keys AS (
    SELECT account_id, ticker FROM rebuilt
    UNION
    SELECT account_id, ticker FROM paper_positions
),
positions AS (
    SELECT 'position' AS item,
           k.account_id,
           k.ticker,
           NULL AS client_order_id,
           COALESCE(p.quantity, 0) AS ledger_value,
           COALESCE(r.quantity, 0) AS expected_value,
           COALESCE(p.quantity, 0) - COALESCE(r.quantity, 0) AS difference,
           'held against fills and position changes' AS detail,
           CASE
               WHEN ABS(COALESCE(p.quantity, 0) - COALESCE(r.quantity, 0)) > 0.000001 THEN 'MISMATCH'
               ELSE 'ok'
           END AS verdict
    FROM position_keys AS k
    LEFT JOIN paper_positions AS p ON p.account_id = k.account_id AND p.ticker = k.ticker
    LEFT JOIN rebuilt AS r ON r.account_id = k.account_id AND r.ticker = k.ticker
),
journal AS (
    SELECT account_id, SUM(amount) AS amount FROM paper_cash_journal GROUP BY account_id
),
marked AS (
    SELECT account_id, SUM(market_value) AS value FROM paper_positions GROUP BY account_id
),
amounts AS (
    SELECT 'cash' AS item,
           a.account_id,
           NULL AS ticker,
           NULL AS client_order_id,
           a.cash_balance AS ledger_value,
           COALESCE(j.amount, 0) AS expected_value,
           a.cash_balance - COALESCE(j.amount, 0) AS difference,
           'cash balance against the cash journal' AS detail,
           CASE WHEN ABS(a.cash_balance - COALESCE(j.amount, 0)) > 0.005 THEN 'MISMATCH' ELSE 'ok' END AS verdict
    FROM paper_accounts AS a
    LEFT JOIN journal AS j ON j.account_id = a.account_id
    UNION ALL
    SELECT 'equity',
           a.account_id,
           NULL,
           NULL,
           a.total_value,
           a.cash_balance + COALESCE(m.value, 0),
           a.total_value - a.cash_balance - COALESCE(m.value, 0),
           'total value against cash plus marked positions',
           CASE WHEN ABS(a.total_value - a.cash_balance - COALESCE(m.value, 0)) > 0.005 THEN 'MISMATCH' ELSE 'ok' END
    FROM paper_accounts AS a
    LEFT JOIN marked AS m ON m.account_id = a.account_id
),
checks AS (
    SELECT * FROM orders
    UNION ALL SELECT * FROM fills
    UNION ALL SELECT * FROM positions
    UNION ALL SELECT * FROM amounts
)
SELECT COALESCE(c.verdict, 'no paper account') AS verdict,
       c.item,
       c.account_id,
       c.ticker,
       c.client_order_id,
       c.ledger_value,
       c.expected_value,
       c.difference,
       c.detail
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN checks AS c ON 1 = 1
ORDER BY CASE WHEN c.verdict = 'MISMATCH' THEN 0 WHEN c.verdict = 'ok' THEN 2 ELSE 1 END,
         c.account_id, c.item, c.ticker, c.client_order_id;
