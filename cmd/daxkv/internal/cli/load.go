package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/store"
)

// loadReport is what `daxkv load --json` prints.
type loadReport struct {
	Keys      int64   `json:"keys"`       // keys committed
	Bytes     int64   `json:"bytes"`      // key and value bytes committed
	Batches   int64   `json:"batches"`    // committed db.Update batches
	LastIndex int64   `json:"last_index"` // last committed key index (--generate) or record number from 0; -1 for none
	ElapsedNs int64   `json:"elapsed_ns"` // from the first batch to the last commit
	OpsPerSec float64 `json:"ops_per_sec"`
	CloseNs   int64   `json:"close_ns"` // Close: final checkpoint and allocator image
}

func newLoadCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "load [FILE|-]",
		Short: "Write many keys: key<TAB>value lines from a file or stdin, or generated ones",
		Long: `load writes keys in batches of --batch operations, each committed
atomically with one durable WAL record (db.Update).

Input is FILE, or standard input for - or no argument: one key, a tab and
the value per line (everything after the first tab is the value; blank
lines are skipped). ` + escapeHelp + `
This is scan's output format. --raw takes the bytes as they are instead
(keys then cannot hold a tab or newline, values no newline).

--generate N writes N synthetic keys instead: key%012d from --start
(zero-padded, so key order is number order), each with --value-size bytes
of printable pseudo-random data that depends only on --seed and the key's
index. verify recomputes the same data.

On a terminal, a progress bar on standard error shows keys (or input bytes),
rate, elapsed and remaining time; --no-progress turns it off. The last line
gives keys, elapsed time and operations per second.

--ack-file F appends, after each committed batch, the index of the last key
it acknowledged (the key index with --generate, the record number from 0
otherwise) as one line, with one append per batch. Every key up to that
index has been durably committed when the line appears; daxkv verify
--ack-file checks them after a crash. The file is not fsynced: it proves
durability across a process crash (kill -9), not a power loss.

Ctrl-C stops after the batch in flight; everything reported is committed.`,
		Example: "  daxkv load --generate 1000000\n  daxkv load dump.tsv\n  daxkv scan -p a.region | daxkv load -p b.region",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runLoad(cmd.Context(), args)
		},
	}
	f := cmd.Flags()
	f.String("generate", "", "write N generated keys instead of reading input")
	addGeneratorFlags(cmd)
	f.String("batch", "1000", "operations per committed batch")
	f.Bool("no-progress", false, "no progress bar, even on a terminal")
	f.String("ack-file", "", "append the last acknowledged key index to this file after each batch")
	f.Bool("raw", false, "input lines are not escaped: take key and value bytes as they are")
	return cmd
}

// loadOp is one put of a load. idx is what --ack-file records for it;
// line, for input lines, is what errors name.
type loadOp struct {
	key, value []byte
	idx, line  int64
}

// loadSource yields the puts of a load in order; io.EOF ends it.
type loadSource interface {
	next() (loadOp, error)
	// progress is the bar's position: keys or input bytes so far.
	progress(keys int64) int64
}

func (a *app) runLoad(ctx context.Context, args []string) error {
	batch, err := a.intSetting("batch", 1)
	if err != nil {
		return err
	}
	src, total, unit, err := a.loadSource(args)
	if err != nil {
		return err
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	var ack *os.File
	if name := a.v.GetString("ack-file"); name != "" {
		ack, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("ack file: %w", err)
		}
		defer ack.Close()
	}

	db, err := a.openStore(false)
	if err != nil {
		return err
	}
	bar := a.newProgress(total, unit)
	rep := loadReport{LastIndex: -1}
	start := time.Now()
	ops := make([]loadOp, 0, batch)
	var stopErr error
	for done := false; !done; {
		if ctx.Err() != nil {
			stopErr = fmt.Errorf("interrupted; the %s keys reported were committed", fmtCount(rep.Keys))
			break
		}
		ops = ops[:0]
		for int64(len(ops)) < batch {
			op, err := src.next()
			if err == io.EOF {
				done = true
				break
			}
			if err != nil {
				stopErr = err
				break
			}
			ops = append(ops, op)
		}
		if stopErr == nil && len(ops) > 0 {
			stopErr = commitOps(db, ops)
		}
		if stopErr != nil {
			stopErr = fmt.Errorf("%w (the %s keys before its batch were committed)", stopErr, fmtCount(rep.Keys))
			break
		}
		if len(ops) == 0 {
			break
		}
		rep.Batches++
		rep.Keys += int64(len(ops))
		for _, op := range ops {
			rep.Bytes += int64(len(op.key) + len(op.value))
		}
		rep.LastIndex = ops[len(ops)-1].idx
		if ack != nil {
			// One write per batch, after the commit: a line in the file is
			// a promise that its key and all before it are durable.
			if _, err := ack.Write(append(strconv.AppendInt(nil, rep.LastIndex, 10), '\n')); err != nil {
				stopErr = fmt.Errorf("ack file: %w", err)
				break
			}
		}
		if bar != nil {
			bar.Set64(src.progress(rep.Keys))
		}
	}
	elapsed := time.Since(start)
	if bar != nil {
		if stopErr == nil {
			bar.Finish()
		} else {
			bar.Exit()
		}
	}
	// Closed here rather than deferred: its time (the final checkpoint)
	// is part of the report.
	closeStart := time.Now()
	if cerr := db.Close(); cerr != nil && stopErr == nil {
		stopErr = fmt.Errorf("close: %w", cerr)
	}
	rep.ElapsedNs = int64(elapsed)
	rep.CloseNs = int64(time.Since(closeStart))
	if elapsed > 0 {
		rep.OpsPerSec = float64(rep.Keys) / elapsed.Seconds()
	}
	if err := a.emit(rep, rep.writeText); err != nil {
		return err
	}
	return stopErr
}

// commitOps writes ops as one atomic batch.
func commitOps(db *store.DB, ops []loadOp) error {
	return db.Update(func(tx *store.Tx) error {
		for _, op := range ops {
			if err := tx.Put(op.key, op.value); err != nil {
				if op.line > 0 {
					return fmt.Errorf("line %d: %w", op.line, err)
				}
				return fmt.Errorf("key %s: %w", op.key, err)
			}
		}
		return nil
	})
}

func (r loadReport) writeText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "loaded %s (%s) in %s: %s ops/s in %s; close took %s\n",
		plural(r.Keys, "key", "keys"), fmtIEC(r.Bytes), fmtDuration(time.Duration(r.ElapsedNs)),
		fmtCount(int64(r.OpsPerSec+0.5)), plural(r.Batches, "batch", "batches"), fmtDuration(time.Duration(r.CloseNs)))
	return err
}

// fmtDuration rounds d for people: 8.21s, 340ms.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// loadSource picks the input: --generate, a file, or standard input. total
// and unit size the progress bar (total -1: unknown).
func (a *app) loadSource(args []string) (src loadSource, total int64, unit string, err error) {
	if a.v.GetString("generate") != "" {
		if len(args) > 0 {
			return nil, 0, "", usageErrorf("give an input FILE or --generate, not both")
		}
		if a.v.GetBool("raw") {
			return nil, 0, "", usageErrorf("--raw applies to input lines, not --generate")
		}
		n, err := a.intSetting("generate", 0)
		if err != nil {
			return nil, 0, "", err
		}
		g, start, err := a.generatorSettings()
		if err != nil {
			return nil, 0, "", err
		}
		if err := checkRange(start, n); err != nil {
			return nil, 0, "", err
		}
		return &genSource{g: g, at: start, end: start + n}, n, "keys", nil
	}
	for _, name := range []string{"start", "seed", "value-size"} {
		if a.cmd.Flags().Changed(name) {
			return nil, 0, "", usageErrorf("--%s applies to --generate only", name)
		}
	}
	ls := &lineSource{raw: a.v.GetBool("raw")}
	if len(args) == 0 || args[0] == "-" {
		if isTerminal(stdin) {
			fmt.Fprintln(a.stderr, "daxkv: reading key<TAB>value lines from the terminal; end with Ctrl-D")
		}
		ls.r = bufio.NewReaderSize(stdin, 256<<10)
		return ls, -1, "keys", nil
	}
	f, err := os.Open(args[0])
	if err != nil {
		return nil, 0, "", err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, "", err
	}
	ls.r, ls.closer = bufio.NewReaderSize(f, 256<<10), f
	if !fi.Mode().IsRegular() {
		return ls, -1, "keys", nil // a pipe or device: size unknown
	}
	ls.byBytes = true
	return ls, fi.Size(), "bytes", nil
}

// genSource yields generated keys [at, end).
type genSource struct {
	g       generator
	at, end int64
}

func (s *genSource) next() (loadOp, error) {
	if s.at >= s.end {
		return loadOp{}, io.EOF
	}
	i := s.at
	s.at++
	// Fresh key and value slices per op: a Tx may keep them until commit.
	v := make([]byte, s.g.valueSize)
	s.g.value(v, i)
	return loadOp{key: genKey(i), value: v, idx: i}, nil
}

func (s *genSource) progress(keys int64) int64 { return keys }

// lineSource yields key<TAB>value lines.
type lineSource struct {
	r       *bufio.Reader
	closer  io.Closer
	raw     bool
	byBytes bool  // progress counts input bytes (a regular file of known size)
	line    int64 // lines read
	read    int64 // bytes read
	records int64 // records yielded
}

func (s *lineSource) Close() error {
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

func (s *lineSource) next() (loadOp, error) {
	for {
		b, rerr := s.r.ReadBytes('\n')
		if len(b) == 0 {
			if rerr == nil || rerr == io.EOF {
				return loadOp{}, io.EOF
			}
			return loadOp{}, fmt.Errorf("read input: %w", rerr)
		}
		if rerr != nil && rerr != io.EOF {
			return loadOp{}, fmt.Errorf("read input: %w", rerr)
		}
		s.line++
		s.read += int64(len(b))
		b = bytes.TrimSuffix(b, []byte("\n"))
		if !s.raw {
			b = bytes.TrimSuffix(b, []byte("\r")) // CRLF files; scan writes \r as an escape
		}
		if len(b) == 0 {
			continue
		}
		key, value, ok := bytes.Cut(b, []byte("\t"))
		if !ok {
			return loadOp{}, fmt.Errorf("line %d: no tab between key and value", s.line)
		}
		if !s.raw {
			var err error
			if key, err = unescape(key); err != nil {
				return loadOp{}, fmt.Errorf("line %d: key: %w", s.line, err)
			}
			if value, err = unescape(value); err != nil {
				return loadOp{}, fmt.Errorf("line %d: value: %w", s.line, err)
			}
		}
		op := loadOp{key: key, value: value, idx: s.records, line: s.line}
		s.records++
		return op, nil
	}
}

func (s *lineSource) progress(keys int64) int64 {
	if s.byBytes {
		return s.read
	}
	return keys
}

// newProgress returns a progress bar on standard error, or nil when
// standard error is not a terminal or --no-progress is set. total -1 is
// an unknown length (a spinner with a count).
//
// progressbar/v3 was picked for this: it is maintained, pure Go, writes to
// any io.Writer, throttles its redraws (a million Add calls cost nothing
// on the terminal), and shows count, rate, elapsed and remaining time out
// of the box, for counts as well as bytes.
func (a *app) newProgress(total int64, unit string) *progressbar.ProgressBar {
	if a.v.GetBool("no-progress") || !isTerminal(a.stderr) || total == 0 {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription("loading"),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(a.stderr) }),
	}
	if unit == "bytes" {
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionUseIECUnits(true))
	} else {
		opts = append(opts, progressbar.OptionSetItsString(unit))
	}
	return progressbar.NewOptions64(total, opts...)
}
