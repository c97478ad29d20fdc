//go:build race

package bench

// The race detector multiplies memory use; the 64 MiB goal is for normal builds.
const raceEnabled = true
