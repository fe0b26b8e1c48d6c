//go:build !unix

package sender

import "crypto/tls"

// quiet reports whether an idle connection may be used; without a way to
// peek at the socket, only a TLS connection's own buffer is checked, and a
// closed connection shows when the request fails.
func (c *pconn) quiet() bool {
	tc, ok := c.Conn.(*tls.Conn)
	return !ok || tlsQuiet(tc)
}
