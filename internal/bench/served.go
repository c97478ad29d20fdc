package bench

import (
	"net"
	"net/http"
	"sync/atomic"
)

// FileServer serves a folder over plain HTTP on loopback and counts the
// body bytes it sends, to check that an importer reads an OVA URL once.
type FileServer struct {
	URL  string // http://127.0.0.1:PORT
	sent atomic.Int64
	gets atomic.Int64
	srv  *http.Server
}

// ServeFiles starts a FileServer for dir.
func ServeFiles(dir string) (*FileServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fs := &FileServer{URL: "http://" + ln.Addr().String()}
	files := http.FileServer(http.Dir(dir))
	fs.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.gets.Add(1)
		files.ServeHTTP(&countingResponse{ResponseWriter: w, n: &fs.sent}, r)
	})}
	go func() { _ = fs.srv.Serve(ln) }()
	return fs, nil
}

// Sent returns the body bytes and requests served since the last Reset.
func (fs *FileServer) Sent() (bytes, requests int64) { return fs.sent.Load(), fs.gets.Load() }

// Reset zeroes the counters.
func (fs *FileServer) Reset() { fs.sent.Store(0); fs.gets.Store(0) }

// Close stops the server.
func (fs *FileServer) Close() error { return fs.srv.Close() }

type countingResponse struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingResponse) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}
