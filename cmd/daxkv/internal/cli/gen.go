package cli

import (
	"fmt"
	"math/rand/v2"

	"github.com/spf13/cobra"
)

// generator makes the synthetic data of load --generate and verify. Key i
// is "key%012d" (zero-padded, so key order is number order) and its value
// depends only on (seed, i, size): verify can recompute any key without
// the load that wrote it, which is what checking writes after a kill -9
// needs.
type generator struct {
	seed      uint64
	valueSize int
}

// genKey is the key of index i.
func genKey(i int64) []byte { return fmt.Appendf(nil, "key%012d", i) }

// valueAlphabet keeps generated values printable (readable in get and scan
// output): 64 symbols, so one random bit-sextet picks each byte.
const valueAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// value writes the value of index i into dst, which must be valueSize
// long. A PCG stream per key (seed, i) is cheap to set up and independent
// of every other key's.
func (g generator) value(dst []byte, i int64) {
	r := rand.NewPCG(g.seed, uint64(i))
	for j := 0; j < len(dst); {
		x := r.Uint64()
		for k := 0; k < 10 && j < len(dst); k++ {
			dst[j] = valueAlphabet[x&63]
			x >>= 6
			j++
		}
	}
}

// maxGenerate bounds key indexes: the key format has 12 digits.
const maxGenerate = 1_000_000_000_000

// addGeneratorFlags declares the flags that define generated data; load
// and verify must agree on them.
func addGeneratorFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("start", "0", "index of the first generated key (key%012d)")
	f.String("seed", "1", "seed of the generated values")
	f.String("value-size", "100", "bytes per generated value")
}

// generatorSettings reads --start, --seed and --value-size.
func (a *app) generatorSettings() (g generator, start int64, err error) {
	if start, err = a.intSetting("start", 0); err != nil {
		return g, 0, err
	}
	seed, err := a.intSetting("seed", 0)
	if err != nil {
		return g, 0, err
	}
	size, err := a.sizeSetting("value-size")
	if err != nil {
		return g, 0, err
	}
	if size > 64<<20 {
		return g, 0, usageErrorf("%s: generated values are at most 64 MiB", a.settingLabel("value-size"))
	}
	return generator{seed: uint64(seed), valueSize: int(size)}, start, nil
}

// checkRange validates a generated key range [start, start+n).
func checkRange(start, n int64) error {
	if start >= maxGenerate || n > maxGenerate-start {
		return usageErrorf("key indexes end at %d (key%%012d has 12 digits); start %d + %d keys goes past that", int64(maxGenerate-1), start, n)
	}
	return nil
}
