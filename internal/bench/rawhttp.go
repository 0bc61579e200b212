package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// rawClient is one client of the scale suite's load run: its own
// keep-alive HTTP/1.1 connection to the agent, as each browser or script
// of a NOC has, sending a GET and reading the whole answer with no more
// work than that. The clients share the machine's CPUs with the agent
// they measure: net/http's client, with its connection pool and a trace
// per request, used 120-135 µs of CPU per request there, a third of the
// machine's work.
type rawClient struct {
	addr, token string
	timeout     time.Duration
	conn        net.Conn
	r           *bufio.Reader
	req         []byte
}

func newRawClient(addr, token string, timeout time.Duration) *rawClient {
	return &rawClient{addr: addr, token: token, timeout: timeout}
}

// get sends GET target (a path and query) and reads the answer: its
// status and the request's times (a dial, if it opened a connection; the
// request written to the status line read). Any error closes the
// connection, and the next get opens a new one.
func (c *rawClient) get(target string) (int, callTimes, error) {
	var ct callTimes
	if c.conn == nil {
		t0 := time.Now()
		conn, err := net.DialTimeout("tcp", c.addr, c.timeout)
		if err != nil {
			return 0, ct, err
		}
		c.conn, ct.conn, ct.newConn = conn, time.Since(t0), true
		if c.r == nil {
			c.r = bufio.NewReaderSize(conn, 4096)
		} else {
			c.r.Reset(conn)
		}
	}
	code, err := c.exchange(target, &ct)
	if err != nil {
		c.Close()
	}
	return code, ct, err
}

func (c *rawClient) exchange(target string, ct *callTimes) (int, error) {
	c.req = append(c.req[:0], "GET "...)
	c.req = append(c.req, target...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: "...)
	c.req = append(c.req, c.addr...)
	c.req = append(c.req, "\r\nAuthorization: Bearer "...)
	c.req = append(c.req, c.token...)
	c.req = append(c.req, "\r\n\r\n"...)
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, err
	}
	wrote := time.Now()
	code, keep, err := readResponse(c.r)
	ct.answer = time.Since(wrote)
	if err == nil && !keep {
		c.Close()
	}
	return code, err
}

// Close closes the client's connection, if it has one.
func (c *rawClient) Close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// readResponse reads one HTTP/1.1 response and discards its body (a
// Content-Length or chunked body; one with neither runs to the end of the
// connection). keep says whether the connection may carry another request.
func readResponse(r *bufio.Reader) (code int, keep bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, false, fmt.Errorf("reading the status line: %w", err)
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	if code, err = strconv.Atoi(string(line[9:12])); err != nil || code < 100 {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	keep = line[7] == '1'
	length, chunked := int64(-1), false
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return code, false, fmt.Errorf("reading the headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return code, false, fmt.Errorf("bad header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return code, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = keep && !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		return code, keep, discardChunks(r)
	case length >= 0:
		_, err := r.Discard(int(length))
		return code, keep, err
	case code == 204 || code == 304 || code < 200:
		return code, keep, nil
	default:
		_, err := io.Copy(io.Discard, r)
		return code, false, err
	}
}

// discardChunks reads a chunked body to its end, trailers included.
func discardChunks(r *bufio.Reader) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("reading a chunk's size: %w", err)
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			break
		}
		if _, err := r.Discard(int(n)); err != nil {
			return err
		}
		if crlf, err := r.ReadSlice('\n'); err != nil || len(bytes.TrimRight(crlf, "\r\n")) != 0 {
			return errors.New("a chunk does not end with CRLF")
		}
	}
	for { // trailers, then the empty line
		line, err := r.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("reading the trailers: %w", err)
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}
