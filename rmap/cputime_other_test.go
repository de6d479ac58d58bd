//go:build !unix

package rmap

import "time"

func cpuTime() time.Duration { return 0 }
