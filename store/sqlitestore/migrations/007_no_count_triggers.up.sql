-- 006's count triggers cost the hot path too much: three status changes per
-- task paid six more statements, and a burn of the embedded default store
-- ran at about 0.7x (BENCHMARKS.md). The counts are covering scans of
-- tasks_status again; the monitor caches them and refreshes in the
-- background, so no viewer waits for the scan.
DROP TRIGGER IF EXISTS tasks_count_insert;
DROP TRIGGER IF EXISTS tasks_count_delete;
DROP TRIGGER IF EXISTS tasks_count_update;
DROP TABLE IF EXISTS task_counts;
