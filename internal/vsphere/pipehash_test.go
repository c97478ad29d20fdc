package vsphere

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"
)

// pipeHash gives the digest of exactly the bytes written, whatever the sizes of the writes
// (smaller than, equal to and across its buffers), and a write after sum is ignored.
func TestPipeHash(t *testing.T) {
	data := make([]byte, 3*pipeHashBuffer*pipeHashBuffers+12345)
	_, _ = io.ReadFull(rand.NewChaCha8([32]byte{1}), data)
	want := sha256.Sum256(data)
	for _, chunk := range []int{1, 4096, 32 << 10, pipeHashBuffer, pipeHashBuffer + 1, len(data)} {
		p := newPipeHash(sha256.New())
		for b := data; len(b) > 0; {
			n := min(chunk, len(b))
			p.write(b[:n])
			b = b[n:]
		}
		if got := p.sum(); !bytes.Equal(got, want[:]) {
			t.Errorf("writes of %d bytes: digest %x, want %x", chunk, got, want)
		}
		p.write([]byte("after the end")) // must neither panic nor block
	}
	if got, want := newPipeHash(sha256.New()).sum(), sha256.Sum256(nil); !bytes.Equal(got, want[:]) {
		t.Errorf("nothing written: digest %x, want %x", got, want)
	}
}
