package pool

import (
	"strings"
	"testing"
)

// FuzzParsePos checks that parsePos never panics and reads back what pos
// writes.
func FuzzParsePos(f *testing.F) {
	f.Add(uint64(0), []byte{}, "/pool/R/")
	f.Add(uint64(47), []byte{0x2f, 0x2e}, "/pool/A/xyz/")
	f.Add(^uint64(0), []byte{0xff}, "")
	f.Fuzz(func(t *testing.T, epoch uint64, idBytes []byte, key string) {
		parsePos(key)
		parsePos(strings.Repeat("-", posLen-len(key)%posLen) + key)
		var id ID
		copy(id[:], idBytes)
		p := pos(epoch, id)
		if strings.ContainsAny(p[:epochTextLen], "/.") || strings.ContainsAny(p[epochTextLen+1:], "/.") {
			t.Fatalf("pos %q has a path separator in a part", p)
		}
		e, got, ok := parsePos("/pool/R/" + p)
		if !ok || e != epoch || got != id {
			t.Fatalf("parsePos(pos(%d, %x)) = %d, %x, %v", epoch, id, e, got, ok)
		}
	})
}
