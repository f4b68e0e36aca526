-- Open paper positions per account, largest first, marked at the close the ledger last settled
-- (settled_through): weight is the share of the account's total value, unrealized_pnl the market
-- value less the cost of the shares (quantity x average price; commissions are in trade_executions).
-- A single 'no open position' row when no account holds anything.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3).
SELECT COALESCE(p.account_id, 'no open position') AS account_id,
       p.ticker,
       p.quantity,
       p.avg_price,
       p.market_value,
       -- 1.0 * keeps SQLite from integer division: it stores whole amounts as integers.
       ROUND(1.0 * p.market_value / NULLIF(a.total_value, 0), 4) AS weight,
       ROUND(p.market_value - p.quantity * p.avg_price, 2) AS unrealized_pnl,
       ROUND(1.0 * (p.market_value - p.quantity * p.avg_price) / NULLIF(p.quantity * p.avg_price, 0), 4)
           AS unrealized_return,
       a.total_value AS account_value,
       a.settled_through AS marked_at
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN paper_positions AS p ON p.quantity > 0
LEFT JOIN paper_accounts AS a ON a.account_id = p.account_id
ORDER BY p.account_id, p.market_value DESC, p.ticker;
