//go:build !unix

package enginetest

import "time"

// cpuTime is 0 where getrusage does not exist (Windows, wasm): the
// benchmarks then report cpu_ns/op as 0 and tasks/s alone means something.
func cpuTime() time.Duration { return 0 }
