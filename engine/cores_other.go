//go:build !linux && !darwin

package engine

// physicalCoreCount is unknown here: use GOMAXPROCS.
func physicalCoreCount() int { return 0 }
