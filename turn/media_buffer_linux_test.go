package turn

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The SFU's one UDP socket gets the large buffers it asks for, as far as
// the kernel allows (net.core.rmem_max and wmem_max).
func TestMediaUDPSocketBuffers(t *testing.T) {
	m, err := ListenMedia(MediaConfig{UDPAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	raw, err := m.udpConn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opt    int
		sysctl string
	}{{syscall.SO_RCVBUF, "rmem_max"}, {syscall.SO_SNDBUF, "wmem_max"}} {
		limit := udpSocketBuffer
		if b, err := os.ReadFile("/proc/sys/net/core/" + c.sysctl); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				limit = min(limit, n)
			}
		}
		var got int
		var gerr error
		if err := raw.Control(func(fd uintptr) {
			got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, c.opt)
		}); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		// Linux reports twice the size set (its bookkeeping overhead).
		if got < limit {
			t.Errorf("%s: %d bytes, want at least %d (asked %d, %s %d)", c.sysctl, got, limit, udpSocketBuffer, c.sysctl, limit)
		}
	}
}
