-- The last 20 completed data imports: what arrived, from where, and how much changed.
SELECT id, kind, sources, strict, rows_read, rows_inserted, rows_updated, rows_rejected,
       started_at, finished_at
FROM data_imports
ORDER BY finished_at DESC
LIMIT 20;
