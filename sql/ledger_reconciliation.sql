-- The paper ledger checked against its own history, mismatches first.
--   position: per account and ticker, paper_positions.quantity (ledger_value) against the quantity
--     the filled paper orders imply (expected_value): bought less sold filled_quantity, each fill
--     multiplied by the split_coef of every split of its ticker after the fill's session, up to the
--     session the ledger has settled through. A split on the fill's own session is already in
--     filled_quantity (the broker adjusts a resting order for it). fills_without_splits is the plain
--     sum, so a split's effect is visible. A fill's session is the ticker's first bar after the close
--     the order was sent at (session_date), which is when the paper broker fills it.
--   cash, equity: the account's cash_balance and total_value against its latest
--     account_equity_history row. Starting cash is not stored, so cash cannot be rebuilt from the
--     fills; the daily run records equity right after it settles, so the two agree unless the ledger
--     was settled again later (verdict 'settled after the last equity record').
-- A position differing by more than 0.000001 shares, or an amount by more than half a cent, is a
-- MISMATCH. Closed positions (no row in paper_positions, fills netting to zero) show as ok.
-- A single 'no paper account' row when there is none.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3 3.25 or newer, for window functions).
WITH RECURSIVE
fills AS (
    SELECT t.account_id,
           t.ticker,
           CASE WHEN t.side = 'buy' THEN t.filled_quantity ELSE -t.filled_quantity END AS signed_quantity,
           (SELECT MIN(b.date) FROM price_bars AS b WHERE b.ticker = t.ticker AND b.date > t.session_date)
               AS fill_date
    FROM trade_executions AS t
    JOIN paper_accounts AS a ON a.account_id = t.account_id
    WHERE t.broker = 'paper' AND t.filled_quantity > 0
),
traded AS (
    SELECT account_id, ticker, MIN(fill_date) AS first_fill
    FROM fills
    GROUP BY account_id, ticker
),
splits AS (
    -- The splits of each traded ticker that can have touched the account's fills: after the first
    -- fill, and no later than the session the ledger has settled (applied) through.
    SELECT tr.account_id,
           b.ticker,
           b.date,
           b.split_coef,
           ROW_NUMBER() OVER (PARTITION BY tr.account_id, b.ticker ORDER BY b.date DESC) AS latest_first
    FROM traded AS tr
    JOIN paper_accounts AS a ON a.account_id = tr.account_id
    JOIN price_bars AS b ON b.ticker = tr.ticker AND b.date > tr.first_fill AND b.date <= a.settled_through
    WHERE b.split_coef <> 1
),
-- No product aggregate exists on either database, so a recursion multiplies each split's coefficient
-- by those of all later ones: what one share held on the eve of that split has become.
split_factor (account_id, ticker, date, latest_first, factor) AS (
    SELECT account_id, ticker, date, latest_first, split_coef
    FROM splits
    WHERE latest_first = 1
    UNION ALL
    SELECT s.account_id, s.ticker, s.date, s.latest_first, s.split_coef * f.factor
    FROM splits AS s
    JOIN split_factor AS f
      ON f.account_id = s.account_id AND f.ticker = s.ticker AND s.latest_first = f.latest_first + 1
),
adjusted_fills AS (
    SELECT f.account_id,
           f.ticker,
           f.signed_quantity,
           f.signed_quantity * COALESCE(
               (SELECT sf.factor
                FROM split_factor AS sf
                WHERE sf.account_id = f.account_id AND sf.ticker = f.ticker AND sf.date > f.fill_date
                ORDER BY sf.date
                LIMIT 1),
               1) AS adjusted_quantity
    FROM fills AS f
),
implied AS (
    SELECT account_id, ticker, SUM(signed_quantity) AS filled_net, SUM(adjusted_quantity) AS quantity
    FROM adjusted_fills
    GROUP BY account_id, ticker
),
position_keys AS (
    SELECT account_id, ticker FROM implied
    UNION
    SELECT account_id, ticker FROM paper_positions
),
positions AS (
    SELECT 'position' AS item,
           k.account_id,
           k.ticker,
           a.settled_through AS as_of,
           COALESCE(p.quantity, 0) AS ledger_value,
           COALESCE(i.quantity, 0) AS expected_value,
           COALESCE(p.quantity, 0) - COALESCE(i.quantity, 0) AS difference,
           i.filled_net AS fills_without_splits,
           CASE
               WHEN ABS(COALESCE(p.quantity, 0) - COALESCE(i.quantity, 0)) > 0.000001 THEN 'MISMATCH'
               ELSE 'ok'
           END AS verdict
    FROM position_keys AS k
    LEFT JOIN paper_positions AS p ON p.account_id = k.account_id AND p.ticker = k.ticker
    LEFT JOIN implied AS i ON i.account_id = k.account_id AND i.ticker = k.ticker
    LEFT JOIN paper_accounts AS a ON a.account_id = k.account_id
),
latest_equity AS (
    SELECT e.account_id, e.date, e.cash, e.equity
    FROM account_equity_history AS e
    WHERE e.date = (SELECT MAX(e2.date) FROM account_equity_history AS e2 WHERE e2.account_id = e.account_id)
),
amounts AS (
    SELECT items.item,
           a.account_id,
           a.settled_through,
           e.date AS recorded_on,
           CASE WHEN items.item = 'cash' THEN a.cash_balance ELSE a.total_value END AS ledger_value,
           CASE WHEN items.item = 'cash' THEN e.cash ELSE e.equity END AS expected_value
    FROM paper_accounts AS a
    CROSS JOIN (SELECT 'cash' AS item UNION ALL SELECT 'equity') AS items
    LEFT JOIN latest_equity AS e ON e.account_id = a.account_id
),
checks AS (
    SELECT item, account_id, ticker, as_of, ledger_value, expected_value, difference, fills_without_splits, verdict
    FROM positions
    UNION ALL
    SELECT item,
           account_id,
           NULL,
           recorded_on,
           ledger_value,
           expected_value,
           ledger_value - expected_value,
           NULL,
           CASE
               WHEN recorded_on IS NULL THEN 'no equity recorded'
               WHEN settled_through > recorded_on THEN 'settled after the last equity record'
               WHEN ABS(ledger_value - expected_value) > 0.005 THEN 'MISMATCH'
               ELSE 'ok'
           END
    FROM amounts
)
SELECT COALESCE(c.verdict, 'no paper account') AS verdict,
       c.item,
       c.account_id,
       c.ticker,
       c.as_of,
       c.ledger_value,
       c.expected_value,
       c.difference,
       c.fills_without_splits
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN checks AS c ON 1 = 1
ORDER BY CASE WHEN c.verdict = 'MISMATCH' THEN 0 ELSE 1 END, c.account_id, c.item, c.ticker;
