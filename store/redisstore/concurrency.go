package redisstore

// MaxConcurrentWrites implements store.WriteConcurrency: Redis runs one
// script at a time, but several batches in flight overlap their round trips.
func (s *Store) MaxConcurrentWrites() int { return 4 }
