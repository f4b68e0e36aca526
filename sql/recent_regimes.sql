-- The last 30 market regimes stored by `fund regime detect` / `backfill`, newest first; a single
-- 'no regime stored' row when there is none yet. new_highs_lows_ratio is highs / (highs + lows).
-- Portable: runs on PostgreSQL (psql) and SQLite (sqlite3).
SELECT COALESCE(r.regime_label, 'no regime stored') AS regime_label,
       r.date,
       ROUND(CAST(r.regime_confidence AS NUMERIC), 2) AS confidence,
       r.trend_regime,
       r.volatility_regime,
       ROUND(CAST(r.realized_volatility_20d AS NUMERIC), 4) AS realized_vol_20d,
       r.vix,
       ROUND(CAST(r.advance_decline_ratio AS NUMERIC), 2) AS advance_decline,
       ROUND(CAST(r.new_highs_lows_ratio AS NUMERIC), 2) AS new_highs_share
FROM (SELECT 1 AS anchor) AS one_row
LEFT JOIN market_regime AS r ON 1 = 1
ORDER BY r.date DESC
LIMIT 30;
