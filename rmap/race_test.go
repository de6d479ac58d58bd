//go:build race

package rmap

const raceEnabled = true
