//go:build linux

package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"time"
)

// hostCPU is the CPU time every process on the machine has used (the
// first line of /proc/stat: all but idle and iowait), so the report can
// tell what the server and bench used from what other work took.
func hostCPU() (time.Duration, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "cpu ") {
		return 0, false
	}
	// user nice system idle iowait irq softirq steal ...; in USER_HZ,
	// which is 100 on every Linux Go runs on.
	const tick = 10 * time.Millisecond
	var busy time.Duration
	for i, field := range strings.Fields(line)[1:] {
		v, err := strconv.ParseUint(field, 10, 64)
		if err != nil {
			return 0, false
		}
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		busy += time.Duration(v) * tick
	}
	return busy, true
}
