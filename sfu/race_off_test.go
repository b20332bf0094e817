//go:build !race

package sfu

// raceEnabled: see race_on_test.go.
const raceEnabled = false
