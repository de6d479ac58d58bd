package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// keyer makes key i: i in decimal, zero-padded to the key size, so key
// order is index order (fillseq writes in key order, readseq reads in it).
type keyer struct{ size int }

func newKeyer(size int, maxIndex int64) (keyer, error) {
	digits := len(fmt.Sprint(maxIndex))
	if size < digits {
		return keyer{}, fmt.Errorf("key size %d is too small for %d keys (needs %d bytes)", size, maxIndex, digits)
	}
	return keyer{size: size}, nil
}

// key writes key i into buf (grown to the key size) and returns it.
func (k keyer) key(buf []byte, i int64) []byte {
	if cap(buf) < k.size {
		buf = make([]byte, k.size)
	}
	buf = buf[:k.size]
	for p := k.size - 1; p >= 0; p-- {
		buf[p] = byte('0' + i%10)
		i /= 10
	}
	return buf
}

// valuePoolSize is the span of random bytes values are cut from: values
// differ from key to key but cost nothing to make during a run.
const valuePoolSize = 1 << 20

// valuer hands out deterministic, incompressible values: slices of one
// random pool at offsets derived from the key index and a version, so an
// overwrite stores new bytes. Every store receives the same bytes.
type valuer struct {
	size int
	pool []byte
}

func newValuer(size int, seed uint64) valuer {
	pool := make([]byte, valuePoolSize+size)
	r := rand.New(rand.NewPCG(seed, 0x76616c756573)) // "values"
	for i := range pool {
		pool[i] = byte(r.Uint32())
	}
	return valuer{size: size, pool: pool}
}

// value returns the value of key i at version ver; callers must not
// modify it.
func (v valuer) value(i int64, ver uint64) []byte {
	off := mix64(uint64(i)^ver*0x9e3779b97f4a7c15) % valuePoolSize
	return v.pool[off : off+uint64(v.size) : off+uint64(v.size)]
}

// mix64 is SplitMix64's finalizer: a bijection on uint64 that scatters
// nearby inputs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// newRand returns the generator for one stream (a workload's run on one
// thread, a shuffle, ...). The same seed and stream give the same numbers
// for every store.
func newRand(seed uint64, stream ...uint64) *rand.Rand {
	s := uint64(0x6461786b76)
	for _, x := range stream {
		s = mix64(s ^ x)
	}
	return rand.New(rand.NewPCG(seed, s))
}

// permutation returns 0..n-1 shuffled by seed: the insert order of
// fillrandom and of the preload (YCSB's hashed insert order).
func permutation(n int64, seed uint64, stream uint64) []int64 {
	p := make([]int64, n)
	for i := range p {
		p[i] = int64(i)
	}
	r := newRand(seed, stream)
	r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// zipfian draws integers in [0, n) with P(i) proportional to 1/(i+1)^theta,
// ported from YCSB's ZipfianGenerator (Gray et al., "Quickly Generating
// Billion-Record Synthetic Databases"). The item count may grow; zeta is
// then extended incrementally, as YCSB does for its latest distribution.
type zipfian struct {
	theta, alpha, zeta2, zetan, eta float64
	n                               int64 // items zetan was computed for
}

// ycsbZipfConstant is YCSB's request skew.
const ycsbZipfConstant = 0.99

func newZipfian(n int64, theta float64) *zipfian {
	z := &zipfian{theta: theta, alpha: 1 / (1 - theta), zeta2: zetaRange(0, 2, theta)}
	z.grow(n, zetaRange(0, n, theta))
	return z
}

// newZipfianZeta builds a generator whose zeta(n) is already known (YCSB's
// scrambled zipfian uses 10^10 items and a published zeta).
func newZipfianZeta(n int64, theta, zetan float64) *zipfian {
	z := &zipfian{theta: theta, alpha: 1 / (1 - theta), zeta2: zetaRange(0, 2, theta)}
	z.grow(n, zetan)
	return z
}

// zetaRange is the sum of 1/i^theta for i in (from, to].
func zetaRange(from, to int64, theta float64) float64 {
	s := 0.0
	for i := from; i < to; i++ {
		s += 1 / math.Pow(float64(i+1), theta)
	}
	return s
}

func (z *zipfian) grow(n int64, zetan float64) {
	z.n, z.zetan = n, zetan
	z.eta = (1 - math.Pow(2/float64(n), 1-z.theta)) / (1 - z.zeta2/zetan)
}

// next draws from [0, n). n may exceed the count of an earlier call.
func (z *zipfian) next(r *rand.Rand, n int64) int64 {
	if n > z.n {
		z.grow(n, z.zetan+zetaRange(z.n, n, z.theta))
	}
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < 1+math.Pow(0.5, z.theta) {
		return 1
	}
	v := int64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(v, z.n-1)
}

// YCSB's scrambled zipfian draws over 10^10 items with this zeta, then
// hashes the item into the key space, so popular keys are scattered.
const (
	scrambledItems = 10_000_000_000
	scrambledZetan = 26.46902820178302
)

type scrambledZipfian struct {
	z     *zipfian
	items int64
}

func newScrambledZipfian(items int64) *scrambledZipfian {
	return &scrambledZipfian{z: newZipfianZeta(scrambledItems, ycsbZipfConstant, scrambledZetan), items: items}
}

func (s *scrambledZipfian) next(r *rand.Rand) int64 {
	return int64(fnv64(uint64(s.z.next(r, scrambledItems))) % uint64(s.items))
}

// fnv64 is YCSB's Utils.fnvhash64: FNV-1a over the 8 bytes, little end
// first, made non-negative.
func fnv64(v uint64) uint64 {
	h := uint64(0xcbf29ce484222325)
	for range 8 {
		h ^= v & 0xff
		h *= 1099511628211
		v >>= 8
	}
	if int64(h) < 0 {
		return uint64(-int64(h))
	}
	return h
}

// skewedLatest is YCSB's SkewedLatestGenerator: the newest of limit items
// is the most popular (item limit-1-zipf).
type skewedLatest struct{ z *zipfian }

func newSkewedLatest(limit int64) *skewedLatest {
	return &skewedLatest{z: newZipfian(max(limit, 2), ycsbZipfConstant)}
}

func (s *skewedLatest) next(r *rand.Rand, limit int64) int64 {
	return max(0, limit-1-s.z.next(r, limit))
}
