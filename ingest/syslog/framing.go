package syslog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// framing is the RFC 6587 framing of a TCP connection.
type framing uint8

const (
	framingUnknown framing = iota
	// framingOctet: "MSG-LEN SP SYSLOG-MSG", as RFC 5425 and rsyslog's
	// TCP_Framing="octet-counted" send.
	framingOctet
	// framingLF: messages each ended by LF (non-transparent framing).
	framingLF
)

func (f framing) String() string {
	switch f {
	case framingOctet:
		return "octet-counting"
	case framingLF:
		return "non-transparent"
	}
	return "unknown"
}

// errFrameTooLarge is a frame over the maximum size. The reader skipped it
// and may go on.
var errFrameTooLarge = errors.New("frame too large")

// errBadFrame is a broken octet count; the stream cannot be resynchronised.
var errBadFrame = errors.New("bad octet count")

// maxLenDigits bounds the MSG-LEN of octet counting.
const maxLenDigits = 10

// frameReader splits a stream into syslog messages. The framing is detected
// from the first byte of the connection: a digit is octet counting, any
// other byte non-transparent framing. It is not safe for concurrent use.
type frameReader struct {
	r    *bufio.Reader
	max  int
	mode framing
	buf  []byte // frames that do not fit r's buffer
}

func newFrameReader(r io.Reader, max int) *frameReader {
	size := 64 << 10
	if max+16 < size {
		size = max + 16
	}
	return &frameReader{r: bufio.NewReaderSize(r, size), max: max}
}

// buffered reports whether a next frame may be read without blocking.
func (f *frameReader) buffered() bool { return f.r.Buffered() > 0 }

// next returns the next frame, valid until the following call. It returns
// io.EOF at a clean end of the stream, errFrameTooLarge for a skipped
// frame (then the caller may call next again), and other errors (errBadFrame,
// read errors) after which the stream is unusable.
func (f *frameReader) next() ([]byte, error) {
	if f.mode == framingUnknown {
		if err := f.skipSpace(); err != nil {
			return nil, err
		}
		b, err := f.r.Peek(1)
		if err != nil {
			return nil, err
		}
		f.mode = framingLF
		if b[0] >= '1' && b[0] <= '9' {
			f.mode = framingOctet
		}
	}
	if f.mode == framingOctet {
		return f.nextOctet()
	}
	return f.nextLF()
}

// skipSpace skips the line ends some senders put between frames.
func (f *frameReader) skipSpace() error {
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			return err
		}
		if c != '\n' && c != '\r' && c != ' ' && c != 0 {
			return f.r.UnreadByte()
		}
	}
}

func (f *frameReader) nextOctet() ([]byte, error) {
	if err := f.skipSpace(); err != nil {
		return nil, err
	}
	n, digits := 0, 0
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			if err == io.EOF && digits > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == ' ' && digits > 0 {
			break
		}
		if c < '0' || c > '9' || (digits == 0 && c == '0') || digits == maxLenDigits {
			return nil, fmt.Errorf("%w: unexpected %q", errBadFrame, c)
		}
		n = n*10 + int(c-'0')
		digits++
	}
	if n > f.max {
		if _, err := f.r.Discard(n); err != nil {
			return nil, unexpected(err)
		}
		return nil, errFrameTooLarge
	}
	if n <= f.r.Size() {
		b, err := f.r.Peek(n)
		if err != nil {
			return nil, unexpected(err)
		}
		_, _ = f.r.Discard(n)
		return b, nil
	}
	if cap(f.buf) < n {
		f.buf = make([]byte, n)
	}
	f.buf = f.buf[:n]
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		return nil, unexpected(err)
	}
	return f.buf, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (f *frameReader) nextLF() ([]byte, error) {
	for {
		line, err := f.r.ReadSlice('\n')
		if err == nil {
			line = trimTrailer(line)
			if len(line) == 0 {
				continue
			}
			if len(line) > f.max {
				return nil, errFrameTooLarge
			}
			return line, nil
		}
		if err == bufio.ErrBufferFull {
			return f.longLine(line)
		}
		if err == io.EOF && len(line) > 0 {
			// The last message of a stream may lack its trailer.
			if line = trimTrailer(line); len(line) > f.max {
				return nil, errFrameTooLarge
			} else if len(line) > 0 {
				return line, nil
			}
		}
		return nil, err
	}
}

// longLine reads a line longer than the buffer: kept up to max, skipped
// to its end beyond.
func (f *frameReader) longLine(start []byte) ([]byte, error) {
	f.buf = append(f.buf[:0], start...)
	for {
		part, err := f.r.ReadSlice('\n')
		if len(f.buf) <= f.max {
			f.buf = append(f.buf, part...)
		}
		switch err {
		case nil:
			line := trimTrailer(f.buf)
			if len(line) > f.max {
				f.shrink()
				return nil, errFrameTooLarge
			}
			return line, nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			if line := trimTrailer(f.buf); len(line) > 0 && len(line) <= f.max {
				return line, nil
			} else if len(line) > f.max {
				return nil, errFrameTooLarge
			}
			return nil, err
		default:
			return nil, err
		}
	}
}

// shrink drops a grown buffer, so one huge line does not pin memory.
func (f *frameReader) shrink() {
	if cap(f.buf) > 2*f.r.Size() {
		f.buf = nil
	}
}
