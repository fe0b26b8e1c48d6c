//go:build unix

package sender

import (
	"crypto/tls"
	"syscall"
)

// quiet reports whether an idle connection is still open with nothing to
// read. Bytes waiting on an idle connection are no answer to a request to
// come (a server's 408 before it closes, a TLS alert) and an end of file
// means the server closed it: either way it must not be used. The check
// peeks at the socket without blocking or consuming anything.
func (c *pconn) quiet() bool {
	if tc, ok := c.Conn.(*tls.Conn); ok && !tlsQuiet(tc) {
		return false
	}
	if c.raw == nil {
		return true
	}
	quiet := false
	var b [1]byte
	err := c.raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		quiet = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && quiet
}
