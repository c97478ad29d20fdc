package vsphere

import (
	"hash"
	"sync"
)

// pipeHash computes a digest in a goroutine of its own, over copies of the bytes it is given,
// so that hashing a disk runs on another core while the bytes go out to the NFC lease: hashing
// in the sending goroutine (an io.TeeReader) cost a quarter of the import's throughput on a
// loaded 2-core machine (BenchmarkImportFileSHA256). Memory stays bounded: a few buffers go
// round between the two goroutines.
type pipeHash struct {
	h hash.Hash
	// mu orders write and sum: net/http may still read a request body (and so call write)
	// after the upload has returned with an error (http.RoundTripper's contract), when sum has
	// run or runs.
	mu     sync.Mutex
	closed bool
	buf    []byte        // being filled by write
	work   chan []byte   // full buffers, to hash
	free   chan []byte   // hashed buffers, to fill again
	done   chan struct{} // closed when the hashing goroutine has hashed everything
}

const (
	pipeHashBuffers = 4
	pipeHashBuffer  = 256 << 10
)

func newPipeHash(h hash.Hash) *pipeHash {
	p := &pipeHash{h: h, work: make(chan []byte, pipeHashBuffers), free: make(chan []byte, pipeHashBuffers), done: make(chan struct{})}
	for range pipeHashBuffers - 1 {
		p.free <- make([]byte, 0, pipeHashBuffer)
	}
	p.buf = make([]byte, 0, pipeHashBuffer)
	go func() {
		defer close(p.done)
		for b := range p.work {
			p.h.Write(b) // never fails
			p.free <- b[:0]
		}
	}()
	return p
}

// write copies b to be hashed; it blocks only when the hashing goroutine is a few buffers
// behind.
func (p *pipeHash) write(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return // the upload is over; its digest is no longer looked at
	}
	for len(b) > 0 {
		n := min(len(b), cap(p.buf)-len(p.buf))
		p.buf = append(p.buf, b[:n]...)
		b = b[n:]
		if len(p.buf) == cap(p.buf) {
			p.work <- p.buf
			p.buf = <-p.free
		}
	}
}

// sum waits for everything written to be hashed and returns the digest. It ends the hashing
// goroutine, and must be called once, also when the digest is not wanted.
func (p *pipeHash) sum() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if len(p.buf) > 0 {
		p.work <- p.buf
	}
	close(p.work)
	<-p.done
	return p.h.Sum(nil)
}
