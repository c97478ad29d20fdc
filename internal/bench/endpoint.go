package bench

import (
	"context"
	"errors"
	"os"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// Endpoint says how a bench process reaches the simulator. It travels to
// child processes in the environment, never on the command line, so the
// password does not show in ps.
type Endpoint struct {
	URL      string `json:"url"` // https://127.0.0.1:PORT/sdk
	CAFile   string `json:"ca_file"`
	User     string `json:"user"`
	Password string `json:"password"`
}

const (
	envURL      = "BENCH_VCSIM_URL"
	envCAFile   = "BENCH_VCSIM_CA_FILE"
	envUser     = "BENCH_VCSIM_USER"
	envPassword = "BENCH_VCSIM_PASSWORD"
)

// Env returns the variables EndpointFromEnv reads.
func (e Endpoint) Env() []string {
	return []string{envURL + "=" + e.URL, envCAFile + "=" + e.CAFile, envUser + "=" + e.User, envPassword + "=" + e.Password}
}

// GovcEnv returns the variables govc reads for the same endpoint. Sessions
// are not persisted: that would write files under ~/.govmomi, which the
// provider does not do either.
func (e Endpoint) GovcEnv() []string {
	return []string{"GOVC_URL=" + e.URL, "GOVC_USERNAME=" + e.User, "GOVC_PASSWORD=" + e.Password,
		"GOVC_TLS_CA_CERTS=" + e.CAFile, "GOVC_PERSIST_SESSION=false",
		"GOVC_DATACENTER=" + placement.Datacenter, "GOVC_DATASTORE=" + placement.Datastore,
		"GOVC_RESOURCE_POOL=/" + placement.Datacenter + "/host/" + placement.Cluster + "/Resources"}
}

// EndpointFromEnv reads what Env wrote.
func EndpointFromEnv() (Endpoint, error) {
	e := Endpoint{URL: os.Getenv(envURL), CAFile: os.Getenv(envCAFile), User: os.Getenv(envUser), Password: os.Getenv(envPassword)}
	if e.URL == "" {
		return e, errors.New(envURL + " is not set")
	}
	return e, nil
}

// Connect opens a provider client on the endpoint.
func (e Endpoint) Connect(ctx context.Context) (*vsphere.Client, error) {
	return vsphere.Connect(ctx, vsphere.Config{Server: e.URL, User: e.User, Password: e.Password, CAFile: e.CAFile})
}
