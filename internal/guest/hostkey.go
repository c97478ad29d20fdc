package guest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyCheck builds the verification for one endpoint. It also returns the host key
// algorithms to ask the server for: a server has several host keys, and if it presented a
// different type from the one the user pinned, the check would fail although the server is
// the right one.
func hostKeyCheck(e *Endpoint) (ssh.HostKeyCallback, []string, error) {
	switch {
	case e.InsecureIgnoreHostKey:
		return ssh.InsecureIgnoreHostKey(), nil, nil

	case e.HostKey != "":
		want, _, _, _, err := ssh.ParseAuthorizedKey([]byte(e.HostKey))
		if err != nil {
			return nil, nil, fmt.Errorf("host_key for %s is not a public key in authorized_keys format (\"ssh-ed25519 AAAA...\"): %w", e.Host, err)
		}
		check := func(_ string, _ net.Addr, got ssh.PublicKey) error {
			if bytes.Equal(got.Marshal(), want.Marshal()) {
				return nil
			}
			if e.HostKeyOrigin != "" {
				return &HostKeyError{Host: e.Host, msg: fmt.Sprintf(
					"host key for %s does not match %s (got %s %s, want %s %s); nothing was changed on it. "+
						"Another machine answers at that address, or someone is intercepting the connection",
					e.Host, e.HostKeyOrigin, got.Type(), ssh.FingerprintSHA256(got), want.Type(), ssh.FingerprintSHA256(want))}
			}
			return &HostKeyError{Host: e.Host, msg: fmt.Sprintf(
				"host key for %s does not match the pinned host_key (got %s %s, want %s %s); nothing was changed on it. "+
					"If the server was rebuilt, update host_key; otherwise someone may be intercepting the connection",
				e.Host, got.Type(), ssh.FingerprintSHA256(got), want.Type(), ssh.FingerprintSHA256(want))}
		}
		return check, algorithmsFor(want.Type()), nil

	case e.KnownHostsFile != "":
		cb, err := knownhosts.New(e.KnownHostsFile)
		if err != nil {
			return nil, nil, fmt.Errorf("known_hosts file for %s: %w", e.Host, err)
		}
		check := func(hostname string, remote net.Addr, got ssh.PublicKey) error {
			err := cb(hostname, remote, got)
			var ke *knownhosts.KeyError
			switch {
			case err == nil:
				return nil
			case errors.As(err, &ke) && len(ke.Want) == 0:
				// Said of the file as it was just read: connect reads it again on each attempt,
				// so a line added meanwhile would have let the next attempt through.
				return &HostKeyError{Host: e.Host, unknown: true, msg: fmt.Sprintf(
					"host %s is not in known_hosts file %s: it presented %s %s, and the file, read again on each attempt for up to %v, "+
						"has no line for %s; nothing was changed on it. If that fingerprint is the host's, add a line for %s with its key "+
						"to the file, or set host_key",
					e.Host, e.KnownHostsFile, got.Type(), ssh.FingerprintSHA256(got), UnknownHostGrace,
					knownhosts.Normalize(e.address()), knownhosts.Normalize(e.address()))}
			case errors.As(err, &ke):
				var want []string
				for _, k := range ke.Want {
					want = append(want, fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
				}
				return &HostKeyError{Host: e.Host, msg: fmt.Sprintf(
					"host key for %s does not match known_hosts (got %s %s, want %s); nothing was changed on it",
					e.Host, got.Type(), ssh.FingerprintSHA256(got), strings.Join(want, " or "))}
			default:
				return &HostKeyError{Host: e.Host, msg: fmt.Sprintf("host key for %s rejected by known_hosts: %v; nothing was changed on it", e.Host, err)}
			}
		}
		return check, knownAlgorithms(cb, e), nil
	}
	return nil, nil, errors.New("no host key verification configured") // validate() prevents this
}

// knownAlgorithms asks the known_hosts database which key types it holds for the endpoint,
// by checking a throw-away key: the resulting KeyError lists the known keys.
func knownAlgorithms(cb ssh.HostKeyCallback, e *Endpoint) []string {
	probe, err := ssh.ParsePublicKey(throwAwayKey)
	if err != nil {
		return nil
	}
	addr := e.address()
	tcp, _ := net.ResolveTCPAddr("tcp", addr)
	if tcp == nil {
		tcp = &net.TCPAddr{}
	}
	var ke *knownhosts.KeyError
	if !errors.As(cb(addr, tcp, probe), &ke) {
		return nil
	}
	var algs []string
	for _, k := range ke.Want {
		algs = append(algs, algorithmsFor(k.Key.Type())...)
	}
	return algs
}

// algorithmsFor maps a key type to the host key algorithms that prove it.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// throwAwayKey is the wire form of an ed25519 public key of 32 zero bytes: no server has it.
var throwAwayKey = func() []byte {
	b := []byte{0, 0, 0, 11}
	b = append(b, "ssh-ed25519"...)
	b = append(b, 0, 0, 0, 32)
	return append(b, make([]byte, 32)...)
}()
