//go:build !linux

package poison

// SetLateKill is Linux-only; elsewhere poison is only ever reported
// synchronously (or not at all).
func SetLateKill() error { return nil }
