// Package tmpfstest mounts private tmpfs instances for tests that depend
// on mount options (huge pages), which /dev/shm does not let them choose.
// Linux only.
package tmpfstest
