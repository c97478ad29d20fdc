package lab

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"strings"

	"golang.org/x/crypto/ssh"
)

// keyPair is an ed25519 key in the two encodings the lab hands out: OpenSSH private key PEM
// (what ssh -i and ssh.ParsePrivateKey read) and an authorized_keys line.
type keyPair struct {
	privatePEM []byte
	public     string // "ssh-ed25519 AAAA..." without comment or newline
}

func newKeyPair(comment string) (keyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return keyPair{}, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{
		privatePEM: pem.EncodeToMemory(block),
		public:     strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))),
	}, nil
}

// randomPassword is for the lab's "admin" user: letters and digits only, so it survives any
// quoting a test or a shell may apply.
func randomPassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
