package provider

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// Terraform starts a fresh provider instance for each command (and terraform-plugin-testing for
// each step), each calling Configure. Sessions are kept per process and per configuration so
// that all resources of a run share one vSphere login, and they are logged out together when the
// plugin stops (CloseSessions) instead of piling up on vCenter until they expire.
var sessions = struct {
	sync.Mutex
	byConfig map[vsphere.Config]*vsphere.Client
}{byConfig: map[vsphere.Config]*vsphere.Client{}}

func session(ctx context.Context, cfg vsphere.Config) (*vsphere.Client, error) {
	sessions.Lock()
	defer sessions.Unlock()
	if c, ok := sessions.byConfig[cfg]; ok {
		return c, nil
	}
	c, err := vsphere.Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	sessions.byConfig[cfg] = c
	return c, nil
}

// lazySession connects on first use, for configurations whose values were unknown at plan time.
func lazySession(cfg vsphere.Config) func(context.Context) (*vsphere.Client, error) {
	return func(ctx context.Context) (*vsphere.Client, error) {
		c, err := session(ctx, cfg)
		if err != nil {
			var d diag.Diagnostics
			addConnectError(&d, cfg, err)
			return nil, errors.New(d[0].Detail())
		}
		return c, nil
	}
}

// CloseSessions logs out every vSphere session this process opened.
func CloseSessions(ctx context.Context) {
	sessions.Lock()
	defer sessions.Unlock()
	for cfg, c := range sessions.byConfig {
		_ = c.Logout(ctx)
		delete(sessions.byConfig, cfg)
	}
}

// addConnectError turns a failed login into a diagnostic on the attribute the user has to fix.
// The error text itself already says what to change.
func addConnectError(diags *diag.Diagnostics, cfg vsphere.Config, err error) {
	attr, summary := "vsphere_server", "Cannot connect to vSphere"
	var ce *vsphere.ConnectError
	if errors.As(err, &ce) {
		switch ce.Kind {
		case vsphere.ConnectUnreachable:
			summary = "vSphere server unreachable"
		case vsphere.ConnectBadCredentials:
			attr, summary = "password", "vSphere login refused"
		case vsphere.ConnectUntrustedCertificate:
			attr, summary = "allow_unverified_ssl", "vSphere server certificate not trusted"
		case vsphere.ConnectBadConfig:
			if cfg.CAFile != "" && strings.Contains(ce.Err.Error(), cfg.CAFile) {
				attr = "ca_file"
			}
			summary = "Invalid vSphere connection settings"
		}
	}
	diags.AddAttributeError(path.Root(attr), summary, err.Error())
}

// RoundTrips is the number of vSphere API calls this process's sessions have made: what tests
// and benchmarks count to show what a refresh costs.
func RoundTrips() int64 {
	sessions.Lock()
	defer sessions.Unlock()
	var n int64
	for _, c := range sessions.byConfig {
		n += c.RoundTrips()
	}
	return n
}
