//go:build unix

package policy

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time this process has used, all threads, so a
// benchmark can report cost that does not depend on machine load.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
