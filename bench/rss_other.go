//go:build !unix

package bench

// PeakRSS is unknown on this platform.
func PeakRSS() uint64 { return 0 }
