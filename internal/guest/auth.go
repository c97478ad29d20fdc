package guest

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// credentials are the auth methods for one endpoint, plus secret-free names of what is
// offered (for the error when the server refuses them all).
type credentials struct {
	methods []ssh.AuthMethod
	names   []string
	closer  func() // releases the agent connection after the handshake
}

func loadCredentials(e *Endpoint) (*credentials, error) {
	c := &credentials{closer: func() {}}
	if e.PrivateKey != "" {
		signer, err := parsePrivateKey(e)
		if err != nil {
			return nil, err
		}
		c.methods = append(c.methods, ssh.PublicKeys(signer))
		pub := signer.PublicKey()
		c.names = append(c.names, fmt.Sprintf("private_key (%s %s)", pub.Type(), ssh.FingerprintSHA256(pub)))
	}
	if e.Agent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, &CredentialError{msg: fmt.Sprintf("%s: agent is enabled but SSH_AUTH_SOCK is not set", e.Host)}
		}
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return nil, &CredentialError{msg: fmt.Sprintf("%s: cannot reach the ssh-agent at SSH_AUTH_SOCK: %v", e.Host, err), cause: err}
		}
		c.closer = func() { conn.Close() }
		c.methods = append(c.methods, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
		c.names = append(c.names, "agent (SSH_AUTH_SOCK)")
	}
	if e.Password != "" {
		pw := e.Password
		c.methods = append(c.methods,
			ssh.Password(pw),
			// Many servers only enable keyboard-interactive; answer its password prompts.
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
		c.names = append(c.names, "password", "keyboard-interactive")
	}
	return c, nil
}

func parsePrivateKey(e *Endpoint) (ssh.Signer, error) {
	key := []byte(e.PrivateKey)
	signer, err := ssh.ParsePrivateKey(key)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return signer, nil
	case errors.As(err, &missing) && e.Passphrase == "":
		return nil, &CredentialError{msg: fmt.Sprintf("%s: private_key is encrypted; set its passphrase", e.Host), cause: err}
	case errors.As(err, &missing):
		signer, err = ssh.ParsePrivateKeyWithPassphrase(key, []byte(e.Passphrase))
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, &CredentialError{msg: fmt.Sprintf("%s: wrong passphrase for private_key", e.Host), cause: err}
		}
		if err != nil {
			return nil, &CredentialError{msg: fmt.Sprintf("%s: cannot decrypt private_key: %v", e.Host, err), cause: err}
		}
		return signer, nil
	default:
		// The parser's message names the format problem; it does not echo key material.
		return nil, &CredentialError{msg: fmt.Sprintf("%s: private_key is not a usable PEM private key: %v", e.Host, err), cause: err}
	}
}
