package engine

import "golang.org/x/sys/unix"

// physicalCoreCount is hw.physicalcpu (performance and efficiency cores).
func physicalCoreCount() int {
	n, err := unix.SysctlUint32("hw.physicalcpu")
	if err != nil {
		return 0
	}
	return int(n)
}
