// Package bench is daxkv's benchmark harness: the workloads of db_bench and
// pmemkv-bench (fillseq, fillrandom, overwrite, readrandom, readseq, scan,
// deleterandom), the YCSB core workloads A to F, daxkv's own recovery
// benchmark, and a report (markdown, JSON, PNG plots) comparing daxkv with
// Pebble, bbolt, Badger, a Go map (the DRAM ceiling) and the raw
// persistence limit of the machine.
//
// Fairness rules the runner enforces: every store gets the same keys in
// the same order and the same value bytes (all derived from one seed), a
// warm-up that is not measured, several runs of which the median is
// reported, and the same number of threads. Peers run with their normal
// settings; durable peers are compared with durable daxkv and the others
// with daxkv in NoSync mode.
package bench
