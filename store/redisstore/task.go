package redisstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// Persist writes a new row in one script: the row, its key claim (SET NX
// semantics checked inside the script, so a held key writes nothing) and
// its index entries.
func (s *Store) Persist(ctx context.Context, t *store.Task) error {
	return s.PersistMany(ctx, []*store.Task{t})
}

// PersistMany writes all rows or none in one script (one round trip).
func (s *Store) PersistMany(ctx context.Context, tasks []*store.Task) error {
	if err := s.check(); err != nil {
		return err
	}
	for _, t := range tasks {
		if err := t.Validate(); err != nil {
			return err
		}
	}
	return s.persist(ctx, tasks, nil)
}

// persist runs persist.lua on valid tasks: plain rows, or with claim set
// rows already claimed (PersistClaimed).
func (s *Store) persist(ctx context.Context, tasks []*store.Task, claim *store.PersistClaimedParams) error {
	if len(tasks) == 0 {
		return nil
	}
	args := make([]any, 0, 4+len(tasks)*(4+2*rowFields))
	args = append(args, len(tasks), "", 0, 0)
	if claim != nil {
		args[1], args[2], args[3] = claim.Owner, leaseMicros(claim.LeaseFor), micros(claim.Now)
	}
	var audits []byte
	for _, t := range tasks {
		n := t.Normalize()
		audits = audits[:0]
		if claim != nil {
			for _, st := range store.ClaimedAudits(n.AuditLevel, n.Status) {
				audits = append(audits, st[0]) // 'Q'ueued, 'I'nProgress
			}
			n.Status, n.Owner = store.StatusInProgress, claim.Owner
		}
		args = append(args, n.ID.String(), n.Key, string(audits), 0)
		nf := len(args) - 1
		args = appendRowArgs(args, n)
		args[nf] = (len(args) - nf - 1) / 2
	}
	res, err := s.run(ctx, scriptPersist, args...).Slice()
	if err != nil {
		return fmt.Errorf("persist: %w", mapErr(err))
	}
	code, _ := res[0].(int64)
	what, _ := res[1].(string)
	switch code {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("persist key %q: %w", what, store.ErrDuplicateKey)
	case 2:
		return fmt.Errorf("%w: task %s already exists", store.ErrInvalid, what)
	}
	return fmt.Errorf("persist: unexpected script result %v", res)
}

// UpdateDefinition overwrites the definition fields in one script, moving
// the key claim and the index entries with them.
func (s *Store) UpdateDefinition(ctx context.Context, t *store.Task) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := t.ValidateDefinition(); err != nil {
		return err
	}
	n := t.Clone()
	store.ApplyDefinition(n, t)
	def := definitionArgs(n)
	args := append([]any{n.ID.String(), n.Key, len(def) / 2}, def...)
	code, err := s.run(ctx, scriptUpdateDefinition, args...).Int64()
	if err != nil {
		return fmt.Errorf("update task %s: %w", t.ID, mapErr(err))
	}
	switch code {
	case -1:
		return fmt.Errorf("update task %s: %w", t.ID, store.ErrNotFound)
	case 2:
		return fmt.Errorf("update task %s key %q: %w", t.ID, t.Key, store.ErrDuplicateKey)
	}
	return nil
}

// Remove deletes the row with its audits, logs and every index entry in one
// script; its cost grows with the task's own audits and logs.
func (s *Store) Remove(ctx context.Context, id uuid.UUID) error {
	if err := s.check(); err != nil {
		return err
	}
	n, err := s.run(ctx, scriptRemove, id.String()).Int64()
	if err != nil {
		return fmt.Errorf("remove task %s: %w", id, mapErr(err))
	}
	if n == 0 {
		return fmt.Errorf("remove task %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// Get reads one row (HGETALL).
func (s *Store) Get(ctx context.Context, id uuid.UUID) (*store.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	h, err := s.rdb.HGetAll(ctx, s.taskKey(id.String())).Result()
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, mapErr(err))
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("get task %s: %w", id, store.ErrNotFound)
	}
	return decodeTask(h)
}

// GetByKey looks the key up in the key hash, then reads the row. A row
// whose key changed between the two reads is reported as not found.
func (s *Store) GetByKey(ctx context.Context, key string) (*store.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("get task by empty key: %w", store.ErrNotFound)
	}
	id, err := s.rdb.HGet(ctx, s.p+"keys", key).Result()
	if err != nil {
		return nil, fmt.Errorf("get task by key %q: %w", key, mapErr(err))
	}
	uid, err := uuid.Parse(id)
	if err != nil {
		return nil, fmt.Errorf("get task by key %q: bad id %q", key, id)
	}
	t, err := s.Get(ctx, uid)
	if err != nil {
		return nil, err
	}
	if t.Key != key {
		return nil, fmt.Errorf("get task by key %q: %w", key, store.ErrNotFound)
	}
	return t, nil
}

// RunCount reads the row's run count.
func (s *Store) RunCount(ctx context.Context, id uuid.UUID) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	// "id" tells a missing row from a missing count (a row written without
	// runs has no "rc" field).
	v, err := s.rdb.HMGet(ctx, s.taskKey(id.String()), "id", "rc").Result()
	if err != nil {
		return 0, fmt.Errorf("run count of %s: %w", id, mapErr(err))
	}
	if v[0] == nil {
		return 0, fmt.Errorf("run count of %s: %w", id, store.ErrNotFound)
	}
	rc, _ := v[1].(string)
	if rc == "" {
		return 0, nil
	}
	return strconv.Atoi(rc)
}
