package pgstore

// MaxConcurrentWrites implements store.WriteConcurrency: PostgreSQL runs
// transactions in parallel, so the engine keeps a few batches in flight.
func (s *Store) MaxConcurrentWrites() int { return 4 }
