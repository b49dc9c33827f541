package infer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/fomonet/fomo/p2p/infer/pb"
	"google.golang.org/protobuf/proto"
)

func TestFrameRoundTrip(t *testing.T) {
	frames := []*pb.Frame{
		requestFrame(&pb.InferRequest{Authorization: []byte{1, 2}, Api: pb.API_API_CHAT, Body: []byte(`{"model":"m"}`), EntryNode: "12D3"}),
		chunkFrame([]byte(`{"choices":[]}`)),
		chunkFrame(nil),
		finalFrame(&pb.Final{Usage: &pb.Usage{PromptTokens: 3, CompletionTokens: 9, Estimated: true}, Finish: "stop", Receipt: []byte("r")}),
		finalFrame(&pb.Final{Error: &pb.Error{Status: 429, Type: "rate_limit_error", Message: "slow"}, Finish: "error"}),
	}
	var buf bytes.Buffer
	w := NewFrameWriter(&buf, 0)
	for _, f := range frames {
		if err := w.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	r := NewFrameReader(&buf, 0)
	for i, want := range frames {
		got, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("frame %d: got %v, want %v", i, got, want)
		}
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestFrameLimits(t *testing.T) {
	big := chunkFrame(bytes.Repeat([]byte("x"), 2000))
	if err := NewFrameWriter(io.Discard, 1024).WriteFrame(big); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("writer: %v, want ErrFrameTooLarge", err)
	}
	var buf bytes.Buffer
	if err := NewFrameWriter(&buf, 0).WriteFrame(big); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFrameReader(bytes.NewReader(buf.Bytes()), 1024).ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("reader: %v, want ErrFrameTooLarge", err)
	}
}

func TestFrameReaderErrors(t *testing.T) {
	valid, _ := marshalOpts.Marshal(chunkFrame([]byte("x")))
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty stream", nil, io.EOF},
		{"zero-length frame", []byte{0}, ErrMalformedFrame},
		{"no kind", append([]byte{2}, 0x20, 0x01), ErrMalformedFrame},
		{"not protobuf", append([]byte{3}, 0xff, 0xff, 0xff), ErrMalformedFrame},
		{"overlong varint", bytes.Repeat([]byte{0xff}, 11), ErrMalformedFrame},
		{"non-minimal varint", []byte{0x80, 0x00}, ErrMalformedFrame},
		{"length past the limit", binary.AppendUvarint(nil, 1<<40), ErrFrameTooLarge},
		{"truncated length", []byte{0x80}, io.ErrUnexpectedEOF},
		{"truncated body", append([]byte{byte(len(valid))}, valid[:len(valid)-1]...), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewFrameReader(bytes.NewReader(tt.in), 4096).ReadFrame()
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzFrameReader feeds arbitrary byte streams to the frame reader: it
// must never panic, must only return frames that re-encode within the
// limit, and must stop at the first error.
func FuzzFrameReader(f *testing.F) {
	var seed bytes.Buffer
	w := NewFrameWriter(&seed, 0)
	_ = w.WriteFrame(requestFrame(&pb.InferRequest{Api: pb.API_API_CHAT, Body: []byte(`{"model":"m"}`)}))
	_ = w.WriteFrame(chunkFrame([]byte("data")))
	_ = w.WriteFrame(finalFrame(&pb.Final{Finish: "stop", Usage: &pb.Usage{PromptTokens: 1}}))
	f.Add(seed.Bytes())
	f.Add([]byte{0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{5, 0x1a, 0x03, 0x22, 0x01, 0x41})
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewFrameReader(bytes.NewReader(data), limit)
		for range 1000 {
			fr, err := r.ReadFrame()
			if err != nil {
				return
			}
			if fr.Kind == nil {
				t.Fatal("ReadFrame returned a frame without a kind")
			}
			var buf bytes.Buffer
			if err := NewFrameWriter(&buf, limit).WriteFrame(fr); err != nil {
				t.Fatalf("decoded frame does not re-encode: %v", err)
			}
			again, err := NewFrameReader(&buf, limit).ReadFrame()
			if err != nil || !proto.Equal(again, fr) {
				t.Fatalf("re-encoded frame decodes differently: %v", err)
			}
		}
	})
}
