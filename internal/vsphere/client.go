// Package vsphere is everything the provider does through govmomi: connect
// (one shared, self-healing session), resolve placement, import OVAs, clone,
// reconfigure, power, wait for the guest IP, read back and destroy VMs. It has
// no Terraform types; progress goes to the context logger (tflog).
package vsphere

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Config says where vSphere is and how to log in.
type Config struct {
	Server             string // host, host:port or URL (https://host/sdk)
	User, Password     string
	AllowUnverifiedSSL bool
	CAFile             string // PEM bundle trusted in addition to the system roots
	// Timeout bounds Connect (dial, TLS, login). Later calls are bounded by
	// their context: an http.Client timeout would also cut multi-GiB uploads
	// and the long polls of WaitForIP.
	Timeout time.Duration
}

// ConnectErrorKind tells the provider which attribute to blame.
type ConnectErrorKind int

const (
	// ConnectUnreachable: nothing answered at Config.Server (vsphere_server).
	ConnectUnreachable ConnectErrorKind = iota + 1
	// ConnectBadCredentials: the server refused User/Password.
	ConnectBadCredentials
	// ConnectUntrustedCertificate: TLS verification failed
	// (allow_unverified_ssl / ca_file).
	ConnectUntrustedCertificate
	// ConnectBadConfig: the configuration itself is unusable (bad URL, unreadable CA file).
	ConnectBadConfig
)

// ConnectError is returned by Connect.
type ConnectError struct {
	Kind   ConnectErrorKind
	Server string
	Err    error
}

func (e *ConnectError) Error() string {
	switch e.Kind {
	case ConnectUnreachable:
		return fmt.Sprintf("cannot reach vSphere at %q: %v; check vsphere_server (host name, port, network path)", e.Server, e.Err)
	case ConnectBadCredentials:
		return fmt.Sprintf("vSphere at %q refused the login: %v; check user and password", e.Server, e.Err)
	case ConnectUntrustedCertificate:
		return fmt.Sprintf("the TLS certificate of %q is not trusted: %v; add its CA to ca_file, or set allow_unverified_ssl = true (insecure)", e.Server, e.Err)
	default:
		return fmt.Sprintf("invalid vSphere connection settings for %q: %v", e.Server, e.Err)
	}
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Client is one authenticated vSphere session, shared by all resources and
// safe for concurrent use. When vSphere says NotAuthenticated (the session
// expired or was terminated) the call logs in again once and is retried.
type Client struct {
	vim  *vim25.Client
	rt   *sessionRoundTripper
	http *http.Client // for OVA/OVF downloads, same trust settings as vSphere

	vapi        restClient // the content library's REST session, made on first use
	descriptors sync.Map   // library item ID -> *ovf.Envelope, read once per item
}

// Vim25 exposes the underlying govmomi client for callers that need more.
func (c *Client) Vim25() *vim25.Client { return c.vim }

// RoundTrips returns the number of SOAP calls made so far (benchmarks count
// calls per operation with it).
func (c *Client) RoundTrips() int64 { return c.rt.calls.Load() }

// ParseServer turns host, host:port or a URL into the SDK URL.
func ParseServer(server string) (*url.URL, error) {
	s := strings.TrimSpace(server)
	if s == "" {
		return nil, errors.New("server is empty")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Host == "" {
		return nil, fmt.Errorf("no host in %q", server)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = vim25.Path
	}
	u.User = nil
	return u, nil
}

func tlsRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil // system roots
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %q holds no PEM certificate", caFile)
	}
	return pool, nil
}

// Connect logs in and returns the shared client.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	u, err := ParseServer(cfg.Server)
	if err != nil {
		return nil, &ConnectError{Kind: ConnectBadConfig, Server: cfg.Server, Err: err}
	}
	roots, err := tlsRoots(cfg.CAFile)
	if err != nil {
		return nil, &ConnectError{Kind: ConnectBadConfig, Server: cfg.Server, Err: err}
	}
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}

	sc := soap.NewClient(u, cfg.AllowUnverifiedSSL)
	sc.DefaultTransport().TLSClientConfig.RootCAs = roots
	// soap's own TLS dialer ignores the context; dial with a deadline so an
	// address that drops packets fails within Timeout instead of hanging.
	sc.DefaultTransport().DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &tls.Dialer{Config: sc.DefaultTransport().TLSClientConfig}
		return d.DialContext(ctx, network, addr)
	}

	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, classify(cfg.Server, err)
	}
	rt := &sessionRoundTripper{next: sc, vim: vc, user: url.UserPassword(cfg.User, cfg.Password)}
	vc.RoundTripper = rt
	rt.calls.Add(1) // the RetrieveServiceContent above
	if err := rt.login(ctx); err != nil {
		return nil, classify(cfg.Server, err)
	}

	dl := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       &tls.Config{RootCAs: roots, InsecureSkipVerify: cfg.AllowUnverifiedSSL},
		ForceAttemptHTTP2:     true,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout, // 0 = none; body streaming is not limited
	}
	return &Client{vim: vc, rt: rt, http: &http.Client{Transport: dl}}, nil
}

func classify(server string, err error) error {
	var kind ConnectErrorKind
	switch {
	case soap.IsCertificateUntrusted(err) || isCertError(err):
		kind = ConnectUntrustedCertificate
	case fault.Is(err, &types.InvalidLogin{}) || fault.Is(err, &types.NoPermission{}):
		kind = ConnectBadCredentials
	default:
		// Anything else (refused, DNS, timeout, an HTTP server that does
		// not speak the vSphere API) means vsphere_server is wrong.
		kind = ConnectUnreachable
	}
	return &ConnectError{Kind: kind, Server: server, Err: err}
}

func isCertError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// Logout ends the session (provider shutdown), and the content library's REST session when
// one was made.
func (c *Client) Logout(ctx context.Context) error {
	c.vapi.mu.Lock()
	if c.vapi.rc != nil {
		_ = c.vapi.rc.Logout(ctx)
		c.vapi.rc = nil
	}
	c.vapi.mu.Unlock()
	return session.NewManager(c.vim).Logout(ctx)
}

// sessionRoundTripper counts SOAP calls and re-establishes the session when
// vSphere answers NotAuthenticated. govmomi's session/keepalive only pings
// on idle and reports failures; it cannot repair a call that already failed,
// so the repair lives here, under every call, where it covers all of them.
type sessionRoundTripper struct {
	next  soap.RoundTripper
	vim   *vim25.Client
	user  *url.Userinfo
	calls atomic.Int64

	mu         sync.Mutex    // serialises logins
	generation atomic.Uint64 // bumped by each successful login
}

func (rt *sessionRoundTripper) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	rt.calls.Add(1)
	gen := rt.generation.Load()

	err := rt.next.RoundTrip(ctx, req, res)
	expired := isNotAuthenticated(err) || (err == nil && unauthenticatedRead(res))
	if !expired || rt.vim == nil {
		return err
	}
	switch req.(type) {
	case *methods.LoginBody, *methods.LogoutBody:
		return err
	}
	if lerr := rt.relogin(ctx, gen); lerr != nil {
		if err == nil {
			// vcsim answers a read without a session with an empty result, not a fault.
			return fmt.Errorf("the vSphere session expired and logging in again failed: %w", lerr)
		}
		return fmt.Errorf("%w (re-login failed: %w)", err, lerr)
	}
	// Clear the fault decoded into res before decoding the retry into it.
	v := reflect.ValueOf(res).Elem()
	v.Set(reflect.Zero(v.Type()))
	rt.calls.Add(1)
	return rt.next.RoundTrip(ctx, req, res)
}

func isNotAuthenticated(err error) bool {
	return err != nil && fault.Is(err, &types.NotAuthenticated{})
}

// unauthenticatedRead reports a property read that the server answered
// without a session: vcsim serves RetrieveProperties(Ex) to anyone and puts
// NotAuthenticated into each object's missingSet instead of failing the call.
func unauthenticatedRead(res soap.HasFault) bool {
	var objs []types.ObjectContent
	switch r := res.(type) {
	case *methods.RetrievePropertiesExBody:
		if r.Res != nil && r.Res.Returnval != nil {
			objs = r.Res.Returnval.Objects
		}
	case *methods.RetrievePropertiesBody:
		if r.Res != nil {
			objs = r.Res.Returnval
		}
	}
	for _, o := range objs {
		for _, m := range o.MissingSet {
			if fault.Is(&m.Fault, &types.NotAuthenticated{}) {
				return true
			}
		}
	}
	return false
}

// relogin logs in again unless another caller already did since gen.
func (rt *sessionRoundTripper) relogin(ctx context.Context, gen uint64) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.generation.Load() != gen {
		return nil // another call already logged in again
	}
	if err := session.NewManager(rt.vim).Login(ctx, rt.user); err != nil {
		return err
	}
	rt.generation.Add(1)
	return nil
}

func (rt *sessionRoundTripper) login(ctx context.Context) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if err := session.NewManager(rt.vim).Login(ctx, rt.user); err != nil {
		return err
	}
	rt.generation.Add(1)
	return nil
}
