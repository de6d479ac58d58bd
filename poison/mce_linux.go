package poison

import "golang.org/x/sys/unix"

// SetLateKill asks the kernel not to kill the process at once when memory
// it maps is poisoned (PR_MCE_KILL_LATE): the process then learns of the
// damage only when it touches the page, as a synchronous SIGBUS that Do
// recovers. The early, asynchronous kind cannot be told apart in Go.
func SetLateKill() error {
	return unix.Prctl(unix.PR_MCE_KILL, unix.PR_MCE_KILL_SET, unix.PR_MCE_KILL_LATE, 0, 0)
}
