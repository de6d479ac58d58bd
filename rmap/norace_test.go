//go:build !race

package rmap

const raceEnabled = false
