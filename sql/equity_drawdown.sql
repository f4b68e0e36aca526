-- End-of-day equity per account with its running peak, the drawdown from that peak and the daily
-- return: the last 60 recorded days of each account, newest first. The peak runs over the whole
-- history, not only the days shown; recorded_peak is the peak the daily run stored beside the
-- equity (the one the drawdown limit reads) and should equal peak_so_far.
-- A single 'no equity recorded' row when there is none yet.
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3 3.25 or newer, for window functions).
SELECT COALESCE(h.account_id, 'no equity recorded') AS account_id,
       h.date,
       h.equity,
       h.cash,
       h.positions_value,
       h.peak_so_far,
       h.recorded_peak,
       -- 1.0 * keeps SQLite from integer division: it stores whole amounts as integers.
       ROUND(1 - 1.0 * h.equity / NULLIF(h.peak_so_far, 0), 6) AS drawdown,
       ROUND(1.0 * h.equity / NULLIF(h.previous_equity, 0) - 1, 6) AS daily_return
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN (
    SELECT e.account_id,
           e.date,
           e.equity,
           e.cash,
           e.positions_value,
           e.peak_equity AS recorded_peak,
           MAX(e.equity) OVER (PARTITION BY e.account_id ORDER BY e.date ROWS UNBOUNDED PRECEDING) AS peak_so_far,
           LAG(e.equity) OVER (PARTITION BY e.account_id ORDER BY e.date) AS previous_equity,
           ROW_NUMBER() OVER (PARTITION BY e.account_id ORDER BY e.date DESC) AS days_back
    FROM account_equity_history AS e
) AS h ON h.days_back <= 60
ORDER BY h.account_id, h.date DESC;
