//go:build !unix

package policy

import "time"

func cpuTime() (time.Duration, bool) { return 0, false }
