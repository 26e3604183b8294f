package store

import (
	"context"

	"github.com/google/uuid"
)

// LogTrimmer caps the execution logs of one task: the engine calls it after
// saving an execution's logs when Config.LogCapture.MaxPerTask is set, as
// the original's MaxExecutionLogsPerTask kept the newest N per task.
// It is optional: without it the engine caps at capture instead, storing
// only what fits under the cap (so it drops the newest records, not the
// oldest).
type LogTrimmer interface {
	// TrimLogs deletes the task's logs but the newest keep of them in the
	// order of Logs (ID, Seq): the last keep stay. It returns how many it
	// deleted. A task without logs, or that does not exist, deletes
	// nothing; keep < 0 is ErrInvalid. It is atomic: a concurrent SaveLogs
	// of the same task lands either before (and counts) or after.
	TrimLogs(ctx context.Context, taskID uuid.UUID, keep int) (deleted int, err error)
}

// CheckKeep validates the keep argument of TrimLogs.
func CheckKeep(keep int) error {
	if keep < 0 {
		return errInvalid("negative log cap %d", keep)
	}
	return nil
}
