package openai

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/fomonet/fomo/runtime"
)

func decodeAll(r io.Reader, maxEvent int, maxTotal int64) ([]string, error) {
	d := newSSEDecoder(r, maxEvent, maxTotal)
	var out []string
	for {
		data, err := d.Next()
		if err != nil {
			return out, err
		}
		out = append(out, string(data))
	}
}

func TestSSEDecoder(t *testing.T) {
	long := strings.Repeat("x", 3*sseReadSize)
	for _, tc := range []struct {
		name     string
		in       string
		maxEvent int
		want     []string
		wantErr  error
	}{
		{"empty", "", 100, nil, io.EOF},
		{"one", "data: a\n\n", 100, []string{"a"}, io.EOF},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", 100, []string{"a", "b"}, io.EOF},
		{"no space and two spaces", "data:a\n\ndata:  b\n\n", 100, []string{"a", " b"}, io.EOF},
		{"multi-line", "data: a\ndata: b\ndata:\n\n", 100, []string{"a\nb\n"}, io.EOF},
		{"field without colon", "data\n\n", 100, []string{""}, io.EOF},
		{"comments only", ": x\n:\n\n\n", 100, nil, io.EOF},
		{"other fields", "event: e\nid: 3\nretry: 1\ndata: a\nfoo\n\n", 100, []string{"a"}, io.EOF},
		{"event without data skipped", "event: e\n\ndata: a\n\n", 100, []string{"a"}, io.EOF},
		{"pending at clean EOF", "data: a\n\ndata: [DONE]\n", 100, []string{"a", "[DONE]"}, io.EOF},
		{"cut mid-line", "data: a\n\ndata: {\"x", 100, []string{"a"}, io.ErrUnexpectedEOF},
		{"long line", "data: " + long + "\n\n", len(long), []string{long}, io.EOF},
		{"line too long", "data: " + long + "\n\n", len(long) - 1, nil, errEventTooLarge},
		{"event too large", "data: 12345\ndata: 12345\n\n", 10, nil, errEventTooLarge},
		{"event just fits", "data: 12345\ndata: 1234\n\n", 10, []string{"12345\n1234"}, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rd := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tc.in)},
				{"byte by byte", iotest.OneByteReader(strings.NewReader(tc.in))},
			} {
				got, err := decodeAll(rd.r, tc.maxEvent, 1<<30)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("%s: err %v, want %v", rd.name, err, tc.wantErr)
				}
				if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
					t.Fatalf("%s: got %q, want %q", rd.name, got, tc.want)
				}
			}
		})
	}
	if _, err := decodeAll(strings.NewReader("data: a\n\ndata: b\n\n"), 100, 12); !errors.Is(err, errStreamTooLarge) {
		t.Fatalf("total bound: %v", err)
	}
}

// refSSE is a straightforward reference decoder over a whole input, for
// comparison with the incremental one.
func refSSE(in []byte) (events []string, unexpectedEOF bool) {
	lines := bytes.Split(in, []byte("\n"))
	last := lines[len(lines)-1]
	lines = lines[:len(lines)-1]
	unexpectedEOF = len(last) > 0
	var data []byte
	has := false
	for _, l := range lines {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(l) == 0 {
			if has {
				events = append(events, string(data))
			}
			data, has = nil, false
			continue
		}
		if l[0] == ':' {
			continue
		}
		name, value, found := bytes.Cut(l, []byte(":"))
		if found {
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		if string(name) != "data" {
			continue
		}
		if has {
			data = append(data, '\n')
		}
		data = append(data, value...)
		has = true
	}
	if has && !unexpectedEOF {
		events = append(events, string(data))
	}
	return events, unexpectedEOF
}

// FuzzSSE checks that the decoder never panics, never returns an event over
// its bound, and agrees with the reference decoder whenever no bound was hit.
func FuzzSSE(f *testing.F) {
	for _, s := range []string{
		"data: {\"a\":1}\n\n", "data:x\r\n\r\n", ": c\n\ndata: a\ndata: b\n\n", "data: [DONE]\n",
		"event: x\nid: 1\n\n", "data: cut", "\n\n\r\n", "data: " + strings.Repeat("y", 300) + "\n\n",
	} {
		f.Add([]byte(s), uint16(64))
	}
	f.Fuzz(func(t *testing.T, in []byte, max uint16) {
		maxEvent := int(max%512) + 1
		d := newSSEDecoder(iotest.HalfReader(bytes.NewReader(in)), maxEvent, int64(len(in)))
		var got []string
		var err error
		for i := 0; ; i++ {
			if i > len(in)+1 {
				t.Fatal("decoder does not make progress")
			}
			var data []byte
			data, err = d.Next()
			if err != nil {
				break
			}
			if len(data) > maxEvent {
				t.Fatalf("event of %d bytes over the %d bound", len(data), maxEvent)
			}
			got = append(got, string(data))
		}
		if errors.Is(err, errEventTooLarge) {
			return
		}
		want, cut := refSSE(in)
		if (err == io.ErrUnexpectedEOF) != cut || (err != io.EOF && err != io.ErrUnexpectedEOF) {
			t.Fatalf("end %v, reference cut %v", err, cut)
		}
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
			t.Fatalf("got %q, reference %q", got, want)
		}
	})
}

// FuzzIncludeUsage checks that the body rewrite never panics, and that what
// it produces asks for usage and keeps every other field.
func FuzzIncludeUsage(f *testing.F) {
	for _, s := range []string{`{"model":"m","stream":true}`, `{"stream_options":{"include_usage":false,"a":1}}`,
		`{"stream_options":null}`, `[]`, `{"a":"<>&\u2028"}`, `{"stream_options":{"include_usage":true}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, err := withIncludeUsage(in)
		if err != nil {
			if e := asError(t, err); e.Status != 400 {
				t.Fatalf("status %d", e.Status)
			}
			return
		}
		again, asked, err := withIncludeUsage(out)
		if err != nil || !asked || !bytes.Equal(again, out) {
			t.Fatalf("rewritten body %s does not ask for usage: %v %v", out, asked, err)
		}
	})
}

// FuzzUpstreamError checks that any upstream error body gives an error that
// keeps the upstream's status and has a message.
func FuzzUpstreamError(f *testing.F) {
	for _, s := range []string{`{"error":{"message":"m","type":"t","param":"p","code":"c"}}`, `{"error":"x"}`,
		`{"detail":[{"loc":["body"]}]}`, `{"message":"m","code":400}`, `<html>`, ``, `{"error":{"code":503}}`} {
		f.Add([]byte(s), uint16(400))
	}
	f.Fuzz(func(t *testing.T, body []byte, status uint16) {
		st := int(status%200) + 400
		e := parseUpstreamError("u at http://x", st, body)
		if e.Status != st || e.Type == "" {
			t.Fatalf("%+v", e)
		}
		if e.Message == "" && len(bytes.TrimSpace(body)) == 0 {
			t.Fatalf("empty message for an empty body: %+v", e)
		}
		se := streamError(body)
		if se.Status < 400 || se.Status > 599 {
			t.Fatalf("stream error status %d", se.Status)
		}
		var _ *runtime.Error = se
	})
}
