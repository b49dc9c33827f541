package pb

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestFrameRoundTrip(t *testing.T) {
	in := &Frame{Kind: &Frame_Request{Request: &InferRequest{
		Authorization: []byte{1, 2, 3}, Api: API_API_CHAT, Body: []byte(`{"model":"m"}`), EntryNode: "12D3KooW",
	}}}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Frame
	if err := proto.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	req := out.GetRequest()
	if req == nil || !bytes.Equal(req.Body, []byte(`{"model":"m"}`)) || req.Api != API_API_CHAT {
		t.Fatalf("round trip lost data: %v", &out)
	}
}

func FuzzFrame(f *testing.F) {
	b, _ := proto.Marshal(&Frame{Kind: &Frame_Final{Final: &Final{Finish: "stop", Usage: &Usage{PromptTokens: 3}}}})
	f.Add(b)
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr Frame
		if err := proto.Unmarshal(data, &fr); err != nil {
			return
		}
		if _, err := proto.Marshal(&fr); err != nil {
			t.Fatalf("decoded frame does not re-encode: %v", err)
		}
	})
}
