package flush

// Persister makes stores to a mapped region durable. Every layer above
// flush (WAL, tree, allocator image, catalog) writes mapped memory and then
// calls a Persister; it never issues flush instructions itself, so crash
// simulation can substitute a Tracker for the real CPU path.
//
// The contract follows PMDK's pmem_flush / pmem_drain split: Flush and Copy
// only start write-back; nothing is guaranteed durable until Drain returns.
// A Drain orders the flushes issued before it by the same goroutine; code
// that wants one Drain to cover many writers must issue those writers'
// flushes from the draining goroutine (see the WAL's group commit).
type Persister interface {
	// Flush starts write-back of every cache line that b touches.
	Flush(b []byte)
	// Drain waits until every earlier Flush and Copy is durable.
	// Only Msync mode can fail (the kernel's msync error).
	Drain() error
	// Copy copies src into dst[:len(src)] and starts its write-back:
	// non-temporal stores from 256 bytes, plain stores plus Flush below.
	Copy(dst, src []byte)
	// Mode reports which mechanism this persister uses.
	Mode() Mode
}

// Persist is Flush followed by Drain.
func Persist(p Persister, b []byte) error {
	p.Flush(b)
	return p.Drain()
}

// CopyPersist is Copy followed by Drain.
func CopyPersist(p Persister, dst, src []byte) error {
	p.Copy(dst, src)
	return p.Drain()
}
