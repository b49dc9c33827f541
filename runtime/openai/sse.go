package openai

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// errEventTooLarge and errStreamTooLarge are returned by sseDecoder.Next when
// the upstream exceeds a size bound.
var (
	errEventTooLarge  = errors.New("event too large")
	errStreamTooLarge = errors.New("stream too large")
)

// sseReadSize is the bufio buffer size; longer lines are assembled in a
// separate buffer, up to the event size bound.
const sseReadSize = 32 << 10

// lineSlack is how much longer than an event a line may be: room for the
// field name, colon, space and line ending.
const lineSlack = 16

// sseDecoder reads the data payloads of server-sent events incrementally.
//
// It follows the event-stream format: lines end in LF or CRLF; a line
// starting with ':' is a comment (keep-alive); "data" fields, with or without
// a space after the colon, are joined by '\n'; other fields (event, id,
// retry) are ignored; an empty line ends an event. An event with no data is
// skipped. When the stream ends right after a complete line, a pending event
// is delivered even without its closing empty line, as some servers end with
// a bare "data: [DONE]\n".
type sseDecoder struct {
	r        *bufio.Reader
	maxEvent int   // bound on one event's data and on one line
	left     int64 // bytes the stream may still use
	data     []byte
	long     []byte // a line longer than the bufio buffer
	activity func() // called after every line read, when set
}

func newSSEDecoder(r io.Reader, maxEvent int, maxTotal int64) *sseDecoder {
	return &sseDecoder{r: bufio.NewReaderSize(r, sseReadSize), maxEvent: maxEvent, left: maxTotal}
}

// Next returns the data of the next event. The slice is valid until the next
// call. At the end of the stream it returns io.EOF, or io.ErrUnexpectedEOF
// when the stream ends in the middle of a line; read errors are returned as
// they are.
func (d *sseDecoder) Next() ([]byte, error) {
	d.data = d.data[:0]
	hasData := false
	for {
		line, err := d.readLine()
		if err != nil {
			if err == io.EOF && hasData {
				return d.data, nil
			}
			return nil, err
		}
		if d.activity != nil {
			d.activity()
		}
		if len(line) == 0 {
			if hasData {
				return d.data, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		name, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			name, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		if string(name) != "data" {
			continue
		}
		n := len(d.data) + len(value)
		if hasData {
			n++
		}
		if n > d.maxEvent {
			return nil, fmt.Errorf("%w: more than %d bytes", errEventTooLarge, d.maxEvent)
		}
		if hasData {
			d.data = append(d.data, '\n')
		}
		d.data = append(d.data, value...)
		hasData = true
	}
}

// readLine returns the next line without its line ending.
func (d *sseDecoder) readLine() ([]byte, error) {
	d.long = d.long[:0]
	for {
		frag, err := d.r.ReadSlice('\n')
		d.left -= int64(len(frag))
		if d.left < 0 {
			return nil, errStreamTooLarge
		}
		switch err {
		case nil:
			line := frag
			if len(d.long) > 0 {
				if len(d.long)+len(frag) > d.maxEvent+lineSlack {
					return nil, fmt.Errorf("%w: a line of more than %d bytes", errEventTooLarge, d.maxEvent)
				}
				line = append(d.long, frag...)
				d.long = line
			}
			line = line[:len(line)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, nil
		case bufio.ErrBufferFull:
			if len(d.long)+len(frag) > d.maxEvent+lineSlack {
				return nil, fmt.Errorf("%w: a line of more than %d bytes", errEventTooLarge, d.maxEvent)
			}
			d.long = append(d.long, frag...)
		case io.EOF:
			if len(frag) > 0 || len(d.long) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}
