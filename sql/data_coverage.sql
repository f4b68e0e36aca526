-- Bars per ticker: span, row count and the last bar, newest data first.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3).
SELECT b.ticker,
       s.asset_type,
       s.sector,
       MIN(b.date) AS first_date,
       MAX(b.date) AS last_date,
       COUNT(*)    AS bars,
       SUM(CASE WHEN b.open IS NULL THEN 1 ELSE 0 END) AS adj_close_only_bars,
       SUM(CASE WHEN b.dividend > 0 THEN 1 ELSE 0 END) AS dividend_days,
       SUM(CASE WHEN b.split_coef <> 1 THEN 1 ELSE 0 END) AS split_days
FROM price_bars AS b
LEFT JOIN securities AS s ON s.ticker = b.ticker
GROUP BY b.ticker, s.asset_type, s.sector
ORDER BY last_date DESC, b.ticker;
