-- A task row is written three times: inserted, claimed (a HOT update when
-- its page has room, since a claim changes no indexed column) and ended.
-- A claim batch updates every row of a page in one transaction, so the old
-- versions are not yet dead and cannot be pruned: at fill factor 50 the new
-- versions did not all fit, and about a quarter of the claims of a burn
-- were non-HOT updates writing seven index entries each (3.61 WAL records
-- per claimed row). At 40 every claim of a burn is HOT (2.08 records: the
-- row lock and the update). Pages written before this keep their layout.
ALTER TABLE {schema}.tasks SET (fillfactor = 40);
