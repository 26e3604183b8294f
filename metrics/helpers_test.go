package metrics_test

import (
	"runtime"
	"testing"

	"github.com/google/uuid"
)

func runtimeCPUs() int { return runtime.NumCPU() }

func evertaskID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id
}
