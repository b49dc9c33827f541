package infer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fomonet/fomo/p2p/infer/pb"
	"github.com/libp2p/go-msgio"
	"github.com/multiformats/go-varint"
	"google.golang.org/protobuf/proto"
)

// Size limits applied when no option overrides them.
const (
	// DefaultMaxFrameSize bounds one encoded frame (without its length
	// prefix). It matches libp2p's network.MessageSizeMax.
	DefaultMaxFrameSize = 4 << 20
	// DefaultMaxBodySize bounds the JSON body of a request. It leaves room
	// in a frame for the authorization envelope and the other fields.
	DefaultMaxBodySize = DefaultMaxFrameSize - 64<<10
)

// Frame decoding errors. Both are protocol errors: the stream they come
// from is reset.
var (
	// ErrFrameTooLarge is returned for a frame longer than the reader's or
	// writer's limit.
	ErrFrameTooLarge = errors.New("infer: frame exceeds the size limit")
	// ErrMalformedFrame is returned for a bad length prefix, a payload that
	// is not a Frame, or a Frame without a kind.
	ErrMalformedFrame = errors.New("infer: malformed frame")
)

// FrameReader reads length-delimited frames from a byte stream.
type FrameReader struct {
	r   msgio.ReadCloser
	max int
}

// NewFrameReader returns a reader that refuses frames longer than max bytes
// (DefaultMaxFrameSize when max <= 0).
func NewFrameReader(r io.Reader, max int) *FrameReader {
	if max <= 0 {
		max = DefaultMaxFrameSize
	}
	return &FrameReader{r: msgio.NewVarintReaderSize(r, max), max: max}
}

// ReadFrame returns the next frame. It returns io.EOF when the stream ends
// cleanly between frames, io.ErrUnexpectedEOF when it ends inside one,
// ErrFrameTooLarge or ErrMalformedFrame (wrapped, with detail) for a frame
// that cannot be accepted, and the underlying read error otherwise. After an
// error other than io.EOF the reader is out of sync and must be discarded.
func (r *FrameReader) ReadFrame() (*pb.Frame, error) {
	msg, err := r.r.ReadMsg()
	if err != nil {
		if msg != nil {
			r.r.ReleaseMsg(msg)
		}
		switch {
		case errors.Is(err, msgio.ErrMsgTooLarge):
			return nil, fmt.Errorf("%w (%d bytes)", ErrFrameTooLarge, r.max)
		case errors.Is(err, varint.ErrOverflow), errors.Is(err, varint.ErrNotMinimal):
			return nil, fmt.Errorf("%w: length prefix: %v", ErrMalformedFrame, err)
		}
		return nil, err
	}
	f := new(pb.Frame)
	err = proto.Unmarshal(msg, f)
	r.r.ReleaseMsg(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedFrame, err)
	}
	if f.Kind == nil {
		return nil, fmt.Errorf("%w: frame has no kind", ErrMalformedFrame)
	}
	return f, nil
}

// FrameWriter writes length-delimited frames, one Write call per frame.
type FrameWriter struct {
	w   io.Writer
	max int
	buf []byte
}

// NewFrameWriter returns a writer that refuses to send frames longer than
// max bytes (DefaultMaxFrameSize when max <= 0).
func NewFrameWriter(w io.Writer, max int) *FrameWriter {
	if max <= 0 {
		max = DefaultMaxFrameSize
	}
	return &FrameWriter{w: w, max: max}
}

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// WriteFrame encodes and writes f. A frame over the limit is not written
// and the error wraps ErrFrameTooLarge.
func (w *FrameWriter) WriteFrame(f *pb.Frame) error {
	size := marshalOpts.Size(f)
	if size > w.max {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, size, w.max)
	}
	buf := w.buf[:0]
	buf = binary.AppendUvarint(buf, uint64(size))
	buf, err := marshalOpts.MarshalAppend(buf, f)
	if err != nil {
		return fmt.Errorf("infer: encoding frame: %w", err)
	}
	if cap(buf) <= 64<<10 {
		w.buf = buf // keep small buffers for the next frame
	}
	_, err = w.w.Write(buf)
	return err
}

func chunkFrame(data []byte) *pb.Frame {
	return &pb.Frame{Kind: &pb.Frame_Chunk{Chunk: &pb.Chunk{Data: data}}}
}

func finalFrame(f *pb.Final) *pb.Frame {
	return &pb.Frame{Kind: &pb.Frame_Final{Final: f}}
}

func requestFrame(r *pb.InferRequest) *pb.Frame {
	return &pb.Frame{Kind: &pb.Frame_Request{Request: r}}
}
