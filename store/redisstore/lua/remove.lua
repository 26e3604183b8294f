-- Remove a row with its audits and logs. ARGV: P, id. Returns 1 or 0.
return remove_task(ARGV[2])
