package vsphere

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRedactKeepsTokensOutOfMessages(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@dl.example.com/HipChat.ova?X-Amz-Signature=secret": "https://dl.example.com/HipChat.ova?…",
		"http://dl.example.com/HipChat.ova":                                 "http://dl.example.com/HipChat.ova",
		"/srv/ova/HipChat.ova":                                              "/srv/ova/HipChat.ova",
		// A scheme is case-insensitive; any scheme's credentials are kept out (a plan-time
		// message quotes a refused ftp:// URL).
		"HTTPS://user:pw@dl.example.com/HipChat.ova?token=secret": "https://dl.example.com/HipChat.ova?…",
		"ftp://mirror:secret@example.com/hipchat.ova":             "ftp://example.com/hipchat.ova",
		"https://user:secret@dl.example.com:badport/x.ova":        "https://… (an unparsable URL)",
		"https://dl.example.com/x.ova#secret":                     "https://dl.example.com/x.ova",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	// A failed download names the URL without its token.
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c := &Client{http: srv.Client()}
	_, _, err := c.open(t.Context(), srv.URL+"/HipChat.ova?X-Amz-Signature=secret")
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("error %v: want the 404 without the token", err)
	}
}
