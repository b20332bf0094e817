package turn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// ListenError says which TURN listener could not open, so that the
// command line can name the flag that moves it.
type ListenError struct {
	Transport string // udp, tcp or tls
	Addr      string
	Err       error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("turn: listen %s on %s: %v", e.Transport, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// streamListener accepts TURN-over-TCP (and, wrapped in TLS, TURN-over-
// TLS) connections for pion and keeps them, so that Close can end them:
// pion closes its listeners but not the connections it accepted. It
// also bounds their number and their silence. State is guarded by mu.
type streamListener struct {
	net.Listener
	idle     time.Duration
	maxConns int

	mu     sync.Mutex
	conns  map[*streamConn]struct{}
	closed bool
	wg     sync.WaitGroup // one per open connection
}

func newStreamListener(ln net.Listener, idle time.Duration, maxConns int) *streamListener {
	return &streamListener{Listener: ln, idle: idle, maxConns: maxConns, conns: map[*streamConn]struct{}{}}
}

// Accept returns the next connection, turning away those over maxConns
// (they are closed at once; the client's TURN over TCP fails, the others
// go on).
func (l *streamListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.closed || (l.maxConns > 0 && len(l.conns) >= l.maxConns) {
			l.mu.Unlock()
			conn.Close()
			continue
		}
		c := &streamConn{Conn: conn, l: l}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		return c, nil
	}
}

// closeAll stops accepting and closes every connection; pion's reader
// of each then fails and deletes its allocation.
func (l *streamListener) closeAll() {
	l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	conns := make([]*streamConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (l *streamListener) remove(c *streamConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.conns[c]; ok {
		delete(l.conns, c)
		l.wg.Done()
	}
}

// streamConn is one client's TURN connection. A read error closes it:
// pion returns without closing a connection whose TLS handshake failed,
// and a descriptor per failed handshake would let anyone exhaust them.
type streamConn struct {
	net.Conn
	l    *streamListener
	once sync.Once
	err  error
}

// Read waits at most the idle timeout: a browser's consent checks and
// refreshes keep an allocation's connection busy every few seconds, and
// a connection with nothing to say is holding a slot for nothing.
func (c *streamConn) Read(p []byte) (int, error) {
	if c.l.idle > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.l.idle))
	}
	n, err := c.Conn.Read(p)
	if err != nil {
		c.Close()
	}
	return n, err
}

func (c *streamConn) Close() error {
	c.once.Do(func() {
		c.err = c.Conn.Close()
		c.l.remove(c)
	})
	if errors.Is(c.err, net.ErrClosed) {
		return nil
	}
	return c.err
}

// certReloader serves the certificate from files and reads them again
// when they change (checked at most once a minute), so a renewed
// certificate needs no restart. State is guarded by mu.
type certReloader struct {
	certFile, keyFile string
	mu                sync.Mutex
	cert              *tls.Certificate
	mod               time.Time
	checked           time.Time
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if _, err := r.get(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) get() (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cert != nil && time.Since(r.checked) < time.Minute {
		return r.cert, nil
	}
	r.checked = time.Now()
	mod := modTime(r.certFile)
	if k := modTime(r.keyFile); k.After(mod) {
		mod = k
	}
	if r.cert != nil && !mod.After(r.mod) {
		return r.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cert != nil {
			return r.cert, nil // keep serving the old one while files are half-written
		}
		return nil, fmt.Errorf("turn: TLS certificate: %w", err)
	}
	r.cert, r.mod = &cert, mod
	return r.cert, nil
}

func modTime(path string) time.Time {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}
